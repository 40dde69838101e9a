// mech/pasta's pure parts: the sandbox's tcp_wmem held to the cap.
#include "mech/pasta.hpp"

#include <gtest/gtest.h>

namespace caisson::mech {
namespace {

TEST(PastaSendBuffer, TheMaximumAndTheDefaultAreHeldToTheCap) {
    EXPECT_EQ(capped_tcp_wmem("4096\t16384\t4194304\n", 262144), "4096 16384 262144");
    EXPECT_EQ(capped_tcp_wmem("4096 1048576 4194304", 262144), "4096 262144 262144");
    EXPECT_EQ(capped_tcp_wmem("524288 1048576 4194304", 262144), "262144 262144 262144");
    // A maximum already under the cap is never raised, whatever the default says.
    EXPECT_EQ(capped_tcp_wmem("4096 524288 131072", 262144), "4096 131072 131072");
}

TEST(PastaSendBuffer, AValueAlreadyUnderTheCapOrUnreadableIsLeftAlone) {
    EXPECT_EQ(capped_tcp_wmem("4096\t16384\t131072\n", 262144), "");
    EXPECT_EQ(capped_tcp_wmem("4096 16384 262144", 262144), "");
    EXPECT_EQ(capped_tcp_wmem("", 262144), "");
    EXPECT_EQ(capped_tcp_wmem("4096 16384", 262144), "");
    EXPECT_EQ(capped_tcp_wmem("4096 16384 4194304 7", 262144), "");
}

}  // namespace
}  // namespace caisson::mech
