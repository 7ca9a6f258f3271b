package prefix

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// TestTracker plays sequences of Begin, Raise, Done, Stop and Finish and
// checks the reports.
func TestTracker(t *testing.T) {
	type op struct {
		kind byte  // 'b'egin, 'r'aise, 'd'one, 's'top, 'f'inish
		arg  int64 // start, position or size
		job  int   // for raise and done: the job, by order of Begin
	}
	for _, c := range []struct {
		name string
		ops  []op
		want []int64
	}{
		{"in order", []op{{'b', 0, 0}, {'d', 0, 0}, {'b', 10, 0}, {'d', 0, 1}, {'f', 30, 0}}, []int64{10, 30}},
		{"gap", []op{{'b', 0, 0}, {'b', 100, 0}, {'d', 0, 0}, {'d', 0, 1}, {'f', 200, 0}}, []int64{100, 200}},
		{"out of order", []op{{'b', 5, 0}, {'b', 10, 0}, {'b', 20, 0}, {'d', 0, 2}, {'d', 0, 1}, {'d', 0, 0}}, []int64{5, 20}},
		{"middle first", []op{{'b', 0, 0}, {'b', 10, 0}, {'b', 20, 0}, {'d', 0, 1}, {'d', 0, 0}, {'d', 0, 2}}, []int64{20}},
		{"raise", []op{{'b', 0, 0}, {'r', 4, 0}, {'b', 10, 0}, {'r', 8, 0}, {'r', 6, 0}, {'d', 0, 1}, {'d', 0, 0}}, []int64{4, 8, 10}},
		{"stop", []op{{'b', 0, 0}, {'b', 10, 0}, {'d', 0, 0}, {'s', 0, 0}, {'d', 0, 1}, {'f', 30, 0}}, []int64{10}},
		{"nothing", []op{{'f', 7, 0}}, []int64{7}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []int64
			tr := NewTracker(func(n int64) { got = append(got, n) })
			var jobs []Job
			for _, o := range c.ops {
				switch o.kind {
				case 'b':
					j, err := tr.Begin(o.arg)
					if err != nil {
						t.Fatal(err)
					}
					jobs = append(jobs, j)
				case 'r':
					tr.Raise(jobs[o.job], o.arg)
				case 'd':
					tr.Done(jobs[o.job])
				case 's':
					tr.Stop()
				case 'f':
					tr.Finish(o.arg)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("reports %v, want %v", got, c.want)
			}
		})
	}
}

func TestBeginOutOfOrder(t *testing.T) {
	for _, report := range []func(int64){nil, func(int64) {}} {
		tr := NewTracker(report)
		if _, err := tr.Begin(100); err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Begin(100); err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Begin(99); err == nil {
			t.Error("a job below the latest one begun")
		}
	}
}

// TestConcurrent runs jobs over a region from several goroutines,
// finishing in random order, and checks against a shadow of the region
// that every byte below each report had been written and none is written
// after.
func TestConcurrent(t *testing.T) {
	const size = 60000 // a multiple of 100
	var (
		mu      sync.Mutex
		written [size]bool
		final   int64
		reports int
	)
	tr := NewTracker(func(n int64) {
		mu.Lock()
		defer mu.Unlock()
		for i := final; i < n; i++ {
			if !written[i] && i%100 < 90 { // bytes 90..99 of each 100 are gaps no job covers
				t.Errorf("byte %d reported final before it was written", i)
				return
			}
		}
		final = n
		reports++
	})
	type job struct {
		id       Job
		from, to int64
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for j := range jobs {
				for i := j.from; i < j.to; i++ {
					mu.Lock()
					if i < final {
						t.Errorf("byte %d written below the final %d", i, final)
					}
					written[i] = true
					mu.Unlock()
					if r.IntN(10) == 0 {
						tr.Raise(j.id, i+1)
					}
				}
				tr.Done(j.id)
			}
		})
	}
	for from := int64(0); from < size; from += 100 {
		id, err := tr.Begin(from)
		if err != nil {
			t.Fatal(err)
		}
		jobs <- job{id, from, from + 90}
	}
	close(jobs)
	wg.Wait()
	tr.Finish(size)
	if final != size || reports < 10 {
		t.Errorf("final %d after %d reports", final, reports)
	}
}
