package require

import (
	"os"
	"testing"
)

// EnvAll, when set, turns a missing component into a test failure.
const EnvAll = "MLSYNC_REQUIRE_ALL"

// Missing skips t (or fails it under MLSYNC_REQUIRE_ALL) because
// component is not there; provided says how CI provides it.
func Missing(t testing.TB, component, provided string, err error) {
	t.Helper()
	msg := component + " is missing"
	if err != nil {
		msg += " (" + err.Error() + ")"
	}
	msg += "; " + provided
	if os.Getenv(EnvAll) != "" {
		t.Fatal(msg + "; " + EnvAll + " is set, so this fails instead of skipping")
	}
	t.Skip(msg)
}
