package vfat

import "time"

// fatTime is a timestamp as a directory entry holds it.
type fatTime struct {
	time, date uint16
	cs         byte // hundredths of a second beyond time's 2-second unit (0-199)
}

var (
	fatEpoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	fatLast  = time.Date(2108, 1, 1, 0, 0, 0, 0, time.UTC)
)

// encodeTime converts t (in UTC: FAT times carry no zone, and readers
// are told to use UTC, as systemd-repart runs mcopy with TZ=UTC) as
// Linux's fat_time_unix2fat does: times before 1980 become 1980-01-01
// 00:00:00, times after 2107 become 2107-12-31 23:59:58.99.
func encodeTime(t time.Time) fatTime {
	t = t.UTC()
	switch {
	case t.Before(fatEpoch):
		return fatTime{time: 0, date: 1<<5 | 1}
	case !t.Before(fatLast):
		return fatTime{time: 23<<11 | 59<<5 | 29, date: 127<<9 | 12<<5 | 31, cs: 199}
	}
	return fatTime{
		time: uint16(t.Hour()<<11 | t.Minute()<<5 | t.Second()>>1),
		date: uint16((t.Year()-1980)<<9 | int(t.Month())<<5 | t.Day()),
		cs:   byte(t.Second()&1*100 + t.Nanosecond()/10000000),
	}
}
