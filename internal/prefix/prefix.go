// Package prefix follows a region written by concurrent jobs and reports
// how long a prefix of it is final: written, and never to be written
// again. A compressor can then read the region while it is written.
//
// The producer begins jobs in increasing order of where they start
// writing; the jobs finish in any order. The final prefix ends where the
// oldest unfinished job starts or, with none, where the latest job
// started: everything below was either written by a finished job or
// lies in a gap no job covers, which stays as it was.
package prefix

import (
	"fmt"
	"sync"
)

// Job identifies a job begun with Begin.
type Job uint64

// Tracker tracks the jobs of one region. Its methods may be called from
// any goroutine.
type Tracker struct {
	report func(n int64)

	mu      sync.Mutex
	head    Job     // the job at jobs[0]
	jobs    []int64 // from head on: where each job may still write; done marks the finished
	done    []bool  // by job - head
	cursor  int64   // start of the latest job: none begins below it
	stopped bool    // after a failure nothing more is final
	reportM sync.Mutex
	last    int64 // reported so far
}

// NewTracker returns a tracker that calls report with the length of the
// final prefix each time it grows, never concurrently with itself. A nil
// report is allowed: the tracker then only checks the order of jobs.
func NewTracker(report func(n int64)) *Tracker {
	return &Tracker{report: report}
}

// Begin records a job that writes nothing below start. It fails when a
// job has begun above start already: the bytes at start may have been
// reported final.
func (t *Tracker) Begin(start int64) (Job, error) {
	t.mu.Lock()
	if start < t.cursor {
		t.mu.Unlock()
		return 0, fmt.Errorf("write at %d begun after one at %d: out of order", start, t.cursor)
	}
	t.cursor = start
	j := t.head + Job(len(t.jobs))
	t.jobs = append(t.jobs, start)
	t.done = append(t.done, false)
	t.mu.Unlock()
	t.update()
	return j, nil
}

// Raise records that job j writes nothing below pos any more (pos at
// least its start, lower values are ignored).
func (t *Tracker) Raise(j Job, pos int64) {
	t.mu.Lock()
	if i := int(j - t.head); i < len(t.jobs) && !t.done[i] && pos > t.jobs[i] {
		t.jobs[i] = pos
	}
	t.mu.Unlock()
	t.update()
}

// Done records that job j has written everything it was to write.
func (t *Tracker) Done(j Job) {
	t.mu.Lock()
	if i := int(j - t.head); i < len(t.jobs) {
		t.done[i] = true
	}
	t.mu.Unlock()
	t.update()
}

// Stop ends the reports: after a failure, some bytes will never be final.
func (t *Tracker) Stop() {
	t.mu.Lock()
	t.stopped = true
	t.mu.Unlock()
}

// Finish reports the whole region, of size bytes, final. Every job must
// be done.
func (t *Tracker) Finish(size int64) {
	t.mu.Lock()
	stopped := t.stopped
	t.mu.Unlock()
	if !stopped {
		t.call(size)
	}
}

// update reports the final prefix if it grew.
func (t *Tracker) update() {
	t.mu.Lock()
	// Drop the finished jobs at the front: the queue stays as long as
	// the jobs in flight.
	k := 0
	for k < len(t.jobs) && t.done[k] {
		k++
	}
	if k > 0 {
		t.head += Job(k)
		t.jobs = append(t.jobs[:0], t.jobs[k:]...)
		t.done = append(t.done[:0], t.done[k:]...)
	}
	if t.report == nil {
		t.mu.Unlock()
		return
	}
	n := t.cursor
	for i, s := range t.jobs {
		if !t.done[i] {
			n = min(n, s)
		}
	}
	stopped := t.stopped
	t.mu.Unlock()
	if !stopped {
		t.call(n)
	}
}

func (t *Tracker) call(n int64) {
	if t.report == nil {
		return
	}
	t.reportM.Lock()
	if n > t.last {
		t.last = n
		t.report(n)
	}
	t.reportM.Unlock()
}
