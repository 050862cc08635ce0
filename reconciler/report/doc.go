// Package report builds what mlsync writes back to Git about a source:
// status/summary.md for people and status/status.json for machines, and
// the commit message that says what changed.
//
// A Status holds no timestamps of its own passes, only of the changes it
// describes, so rendering an unchanged Status gives identical bytes and
// the status branch gets no commit.
//
//	files := st.Files()                 // path -> content
//	msg := report.CommitMessage(prev, st)
package report
