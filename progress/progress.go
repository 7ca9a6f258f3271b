// Package progress follows the long phases of a build (scanning sources,
// writing file data, compressing) and draws them on one terminal line.
//
// The build only counts: a Task is a pair of atomic counters that any
// goroutine may add to, cheaply enough to call per file. What is drawn,
// and whether anything is, is the Display's business, so the build's
// output never depends on it.
package progress

import (
	"sync"
	"sync/atomic"
)

// Unit says what a Task counts.
type Unit int

const (
	Bytes Unit = iota
	Entries
)

// Task is one phase. Its methods may be called on a nil *Task, which
// counts nothing, so code can report progress without checking whether
// anyone is watching.
type Task struct {
	name        string
	unit        Unit
	total, done atomic.Int64
	ended       atomic.Bool
}

// Add counts n more units done.
func (t *Task) Add(n int64) {
	if t != nil {
		t.done.Add(n)
	}
}

// AddTotal raises the expected total by n, for phases that learn it as
// they go.
func (t *Task) AddTotal(n int64) {
	if t != nil {
		t.total.Add(n)
	}
}

// End marks the task finished; it is no longer shown.
func (t *Task) End() {
	if t != nil {
		t.ended.Store(true)
	}
}

// Board is the set of running tasks. A nil *Board is valid and tracks
// nothing.
type Board struct {
	mu    sync.Mutex
	tasks []*Task
}

// Start begins a task; total is 0 when unknown.
func (b *Board) Start(name string, unit Unit, total int64) *Task {
	if b == nil {
		return nil
	}
	t := &Task{name: name, unit: unit}
	t.total.Store(total)
	b.mu.Lock()
	b.tasks = append(b.tasks, t)
	b.mu.Unlock()
	return t
}

// State is a task as seen at one moment.
type State struct {
	Task        *Task
	Name        string
	Unit        Unit
	Done, Total int64
}

// Running returns the tasks not ended, in the order they started, and
// forgets the ended ones.
func (b *Board) Running() []State {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []State
	kept := b.tasks[:0]
	for _, t := range b.tasks {
		if t.ended.Load() {
			continue
		}
		kept = append(kept, t)
		out = append(out, State{Task: t, Name: t.name, Unit: t.unit, Done: t.done.Load(), Total: t.total.Load()})
	}
	clear(b.tasks[len(kept):])
	b.tasks = kept
	return out
}
