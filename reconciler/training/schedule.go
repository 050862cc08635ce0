package training

import "time"

// Phase is the state of a step or a run.
type Phase string

// The phases.
const (
	PhasePending    Phase = "Pending"
	PhaseRunning    Phase = "Running"
	PhaseSucceeded  Phase = "Succeeded"
	PhaseFailed     Phase = "Failed"
	PhaseSuperseded Phase = "Superseded"
)

// StepStatus is what is known of one step.
type StepStatus struct {
	Phase Phase `json:"phase"`
	// Cached is true when the step was not run: a step with the same key
	// succeeded before.
	Cached bool `json:"cached,omitempty"`
	// Job names the Job (or PyTorchJob) that ran the step.
	Job     string             `json:"job,omitempty"`
	Message string             `json:"message,omitempty"`
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// Attempts counts the pods the step took (retries + 1 when all failed).
	Attempts int       `json:"attempts,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	// Key is the step key the status belongs to.
	Key string `json:"key,omitempty"`
}

// Decision is what Schedule says about a run now.
type Decision struct {
	// Start lists the steps (indexes in Run.Steps) whose Jobs to create.
	Start []int
	// Steps is each step's status, cached ones marked.
	Steps []StepStatus
	// Phase of the run.
	Phase Phase
	// Failed names the first failed step.
	Failed string
}

// Schedule decides which of run's steps to start, given the status the
// cluster shows of each step's Job (by step name) and the cache of step
// results (by key). A step starts when every step it depends on has
// succeeded; after a failure nothing new starts.
func Schedule(run *Run, observed map[string]StepStatus, cache map[string]StepStatus) Decision {
	d := Decision{Steps: make([]StepStatus, len(run.Steps))}
	failed := false
	var start []int
	running := false
	succeeded := 0
	for i, st := range run.Steps {
		s, seen := observed[st.Name]
		if !seen || s.Key != st.Key {
			if c, ok := cache[st.Key]; ok && c.Phase == PhaseSucceeded {
				s, seen = c, true
				s.Cached = true
			}
		}
		if !seen {
			s = StepStatus{Phase: PhasePending, Key: st.Key}
		}
		d.Steps[i] = s
		switch s.Phase {
		case PhaseSucceeded:
			succeeded++
		case PhaseFailed:
			if !failed {
				failed, d.Failed = true, st.Name
			}
		case PhaseRunning:
			running = true
		case PhasePending:
			if depsDone(run, d.Steps, i) {
				start = append(start, i)
			}
		}
	}
	switch {
	case failed:
		d.Phase = PhaseFailed
	case succeeded == len(run.Steps):
		d.Phase = PhaseSucceeded
	case running || len(start) > 0 || succeeded > 0:
		d.Phase = PhaseRunning
		d.Start = start
	default:
		d.Phase = PhasePending
		d.Start = start
	}
	return d
}

func depsDone(run *Run, steps []StepStatus, i int) bool {
	for _, d := range run.Steps[i].Deps {
		if steps[d].Phase != PhaseSucceeded {
			return false
		}
	}
	return true
}
