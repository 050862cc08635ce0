// Package require lets a test say which real component it needs and how
// CI provides it. Without the component the test is skipped on a
// developer's machine, but fails where MLSYNC_REQUIRE_ALL is set (.ci/run
// sets it), so CI never passes by skipping.
package require
