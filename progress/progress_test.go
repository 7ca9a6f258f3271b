package progress

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNilIsQuiet(t *testing.T) {
	var b *Board
	task := b.Start("x", Bytes, 10)
	task.Add(5) // must not panic
	task.AddTotal(1)
	task.End()
	if b.Running() != nil {
		t.Error("a nil board has tasks")
	}
}

func TestConcurrentAdds(t *testing.T) {
	b := &Board{}
	task := b.Start("writing", Bytes, 0)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				task.Add(3)
				task.AddTotal(4)
			}
		})
	}
	wg.Wait()
	s := b.Running()
	if len(s) != 1 || s[0].Done != 24000 || s[0].Total != 32000 {
		t.Errorf("got %+v", s)
	}
	task.End()
	if len(b.Running()) != 0 {
		t.Error("an ended task is still running")
	}
}

// fakeClock is a clock the test moves.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestLine(t *testing.T) {
	b := &Board{}
	clock := &fakeClock{time.Unix(1000, 0)}
	d := NewDisplay(&bytes.Buffer{}, b, func() int { return 200 })
	d.now = clock.now

	scan := b.Start("Scanning sources", Entries, 0)
	write := b.Start("Writing root", Bytes, 100<<20)
	scan.Add(10)
	if got, want := d.Line(), "Scanning sources: 10 | Writing root: 0B/100.0M 0%"; got != want {
		t.Errorf("first line %q, want %q", got, want)
	}
	clock.t = clock.t.Add(2 * time.Second)
	scan.Add(990)
	write.Add(20 << 20)
	want := "Scanning sources: 1000 495/s | Writing root: 20.0M/100.0M 20% 10.0M/s ETA 0:08"
	if got := d.Line(); got != want {
		t.Errorf("line %q, want %q", got, want)
	}
	scan.End()
	// The rate only looks back rateWindow: after a stall the old,
	// faster samples drop out.
	for range 10 {
		clock.t = clock.t.Add(time.Second)
		d.Line()
	}
	if got := d.Line(); !strings.HasPrefix(got, "Writing root: 20.0M/100.0M 20% 0B/s") {
		t.Errorf("after a stall: %q", got)
	}
	if len(d.hist) != 1 {
		t.Errorf("history kept for %d tasks, want only the running one", len(d.hist))
	}

	d.width = func() int { return 70 }
	b.Start("Compressing img.raw.zst", Bytes, 1000).Add(500)
	if got, want := d.Line(), "Writing root: 20.0M/100.0M 20% 0B/s | Compressing img.raw.zst 50%"; got != want {
		t.Errorf("two tasks on a narrow terminal: %q, want %q", got, want)
	}
	d.width = func() int { return 20 }
	if got := d.Line(); len([]rune(got)) != 19 || !strings.HasSuffix(got, "…") {
		t.Errorf("narrow terminal: %q", got)
	}
}

func TestPrintlnClearsTheStatus(t *testing.T) {
	var out bytes.Buffer
	b := &Board{}
	d := NewDisplay(&out, b, func() int { return 80 })
	b.Start("Compressing x", Bytes, 10).Add(1)
	d.mu.Lock()
	d.draw()
	d.mu.Unlock()
	d.Println("Wrote x.")
	d.mu.Lock()
	d.draw()
	d.mu.Unlock()
	d.Do(func() { out.WriteString("table\n") })
	d.Stop()
	if got, want := out.String(), "\rCompressing x: 1B/10B 10%\x1b[K\r\x1b[KWrote x.\n"+
		"\rCompressing x: 1B/10B 10%\x1b[K\r\x1b[Ktable\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 1023: "1023B", 1024: "1.0K", 1536 << 20: "1.5G", 5 << 40: "5.0T"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
	if got := clock(3725 * time.Second); got != "1:02:05" {
		t.Errorf("clock = %q", got)
	}
}
