package gpt

// WriteUnchecked writes a table without validating it, so that tests can
// make the corrupt tables Read must refuse.
func WriteUnchecked(d *Disk, w interface {
	WriteAt([]byte, int64) (int, error)
}) error {
	return d.write(w)
}
