package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Display redraws the running tasks of a Board on one line of a
// terminal, a few times a second. Other messages must go through
// Println, which clears the line first, so that they do not end up
// glued to a half-drawn status.
type Display struct {
	w     io.Writer
	board *Board
	width func() int
	now   func() time.Time

	mu    sync.Mutex
	drawn bool
	hist  map[*Task][]sample

	stop chan struct{}
	done chan struct{}
}

// sample is a task's count at a moment, for the rate.
type sample struct {
	at   time.Time
	done int64
}

// rateWindow is how far back the rate looks: long enough to smooth
// bursts, short enough to follow a change of phase speed.
const rateWindow = 5 * time.Second

// NewDisplay draws b on w; width returns the terminal's columns.
func NewDisplay(w io.Writer, b *Board, width func() int) *Display {
	return &Display{w: w, board: b, width: width, now: time.Now, hist: map[*Task][]sample{}}
}

// Start redraws every interval until Stop.
func (d *Display) Start(interval time.Duration) {
	d.stop, d.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(d.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-d.stop:
				return
			case <-tick.C:
				d.mu.Lock()
				d.draw()
				d.mu.Unlock()
			}
		}
	}()
}

// Stop ends the redrawing and clears the line.
func (d *Display) Stop() {
	if d.stop != nil {
		close(d.stop)
		<-d.done
		d.stop = nil
	}
	d.mu.Lock()
	d.clear()
	d.mu.Unlock()
}

// Println writes msg on a line of its own; the status comes back at the
// next redraw.
func (d *Display) Println(msg string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clear()
	fmt.Fprintln(d.w, msg)
}

// Do runs f with the status line cleared and not redrawn meanwhile, for
// output that shares the terminal, such as a table on stdout.
func (d *Display) Do(f func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clear()
	f()
}

func (d *Display) clear() {
	if d.drawn {
		io.WriteString(d.w, "\r\x1b[K")
		d.drawn = false
	}
}

func (d *Display) draw() {
	line := d.Line()
	if line == "" {
		d.clear()
		return
	}
	io.WriteString(d.w, "\r"+line+"\x1b[K")
	d.drawn = true
}

// Line renders the running tasks, cut to the terminal's width less one
// column (writing the last column makes some terminals wrap).
func (d *Display) Line() string {
	now := d.now()
	var parts, short []string
	live := map[*Task]bool{}
	for _, s := range d.board.Running() {
		live[s.Task] = true
		h := append(d.hist[s.Task], sample{now, s.Done})
		for len(h) > 2 && now.Sub(h[1].at) >= rateWindow {
			h = h[1:]
		}
		d.hist[s.Task] = h
		parts = append(parts, render(s, h))
		short = append(short, renderShort(s))
	}
	for t := range d.hist {
		if !live[t] {
			delete(d.hist, t)
		}
	}
	line := strings.Join(parts, " | ")
	w := d.width() - 1
	if len(parts) > 1 && w > 0 && len([]rune(line)) > w {
		// Several tasks do not fit in full: the first in full, the
		// others by their share done.
		line = strings.Join(append(parts[:1], short[1:]...), " | ")
	}
	if w > 0 && len([]rune(line)) > w {
		line = string([]rune(line)[:max(w-1, 0)]) + "…"
	}
	return line
}

// render shows one task: "name: done/total pct rate ETA", leaving out
// what is not known yet.
func render(s State, h []sample) string {
	var b strings.Builder
	b.WriteString(s.Name)
	b.WriteString(": ")
	b.WriteString(amount(s.Unit, s.Done))
	if s.Total > 0 {
		fmt.Fprintf(&b, "/%s %d%%", amount(s.Unit, s.Total), min(100, s.Done*100/s.Total))
	}
	if len(h) < 2 {
		return b.String()
	}
	first, last := h[0], h[len(h)-1]
	secs := last.at.Sub(first.at).Seconds()
	if secs < 0.5 {
		return b.String()
	}
	rate := float64(last.done-first.done) / secs
	fmt.Fprintf(&b, " %s/s", amount(s.Unit, int64(rate)))
	if s.Total > s.Done && rate > 0 {
		eta := time.Duration(float64(s.Total-s.Done)/rate) * time.Second
		fmt.Fprintf(&b, " ETA %s", clock(eta))
	}
	return b.String()
}

// renderShort shows a task as "name pct" (or "name done").
func renderShort(s State) string {
	if s.Total > 0 {
		return fmt.Sprintf("%s %d%%", s.Name, min(100, s.Done*100/s.Total))
	}
	return s.Name + " " + amount(s.Unit, s.Done)
}

func amount(u Unit, n int64) string {
	if u == Entries {
		return fmt.Sprint(n)
	}
	return Size(n)
}

// Size formats a byte count in powers of 1024 with one decimal ("1.5G",
// "512.0M", "300B"): a fixed number of decimals keeps the status line
// from jittering as digits come and go.
func Size(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%dB", n)
	}
	v, i := float64(n)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f%c", v, units[i])
}

// clock formats a duration as m:ss or h:mm:ss.
func clock(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
