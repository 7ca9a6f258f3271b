module github.com/hermetic-repart/hermetic-repart

go 1.26.0

require (
	github.com/google/uuid v1.6.0
	golang.org/x/sys v0.49.0
)

require github.com/klauspost/compress v1.20.3

require github.com/soypat/fat v0.2.1

require github.com/ulikunitz/xz v0.5.17
