// Package promotion decides which model versions move to which stage, and
// writes the change as it goes to Git: the stage's pinned version edited
// in the user's spec file, in place, keeping its formatting.
//
// A version passes to the first stage when its gate passed and it is
// newer than the stage's pin; it passes on to the next stage once the
// stage before pins it. Each stage's policy says what then happens:
// "auto" commits the pin, "pull-request" proposes it on a branch for
// review, "manual" waits for `mlsync promote`.
//
//	for _, p := range promotion.Next(model, reg) {
//		data, err := promotion.SetPin(file, model.Source, p.StageIndex, p.To)
//	}
package promotion
