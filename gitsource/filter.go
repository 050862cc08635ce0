package gitsource

// Filter selects the files of a revision mlsync reads: those matching an
// Include glob (all when Include is empty) and no Ignore glob. Globs use
// path.Match per path element, plus "**" for any number of elements:
// "models/**/*.cue", "**/testdata/**".
type Filter struct {
	Include []string
	Ignore  []string
}

// Match reports whether p passes the filter.
func (f Filter) Match(p string) bool {
	for _, g := range f.Ignore {
		if matchGlob(g, p) {
			return false
		}
	}
	if len(f.Include) == 0 {
		return true
	}
	for _, g := range f.Include {
		if matchGlob(g, p) {
			return true
		}
	}
	return false
}

// And returns a keep function for Snapshot.Files that needs both f and
// keep (nil keep: f alone).
func (f Filter) And(keep func(string) bool) func(string) bool {
	return func(p string) bool { return f.Match(p) && (keep == nil || keep(p)) }
}
