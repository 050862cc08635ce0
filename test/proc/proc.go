package proc

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

// WaitHealthy polls url every interval until it answers 200 OK. It fails
// with the process's log when done closes first (the process exited), or
// when timeout passes.
func WaitHealthy(name, url string, done <-chan struct{}, logPath string, timeout, interval time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("%s exited: %s", name, log)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy after %s", name, timeout)
		}
		time.Sleep(interval)
	}
}
