/* Guest cgroup v2 library. */
#include "cgroup.h"
#include "test.h"
#include "util.h"

TEST(cgroup_placeholder)
{
    CHECK(1);
}
