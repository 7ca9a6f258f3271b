// Package fstree is the content model of one partition: the tree of
// directories, files, symlinks, special files and hard links that
// CopyFiles=, ExcludeFiles=, ExcludeFilesTarget=, MakeDirectories= and
// MakeSymlinks= describe, built in memory from one scan of the sources.
//
// Only metadata is gathered (lstat, readdir, listxattr/getxattr, readlink,
// and SEEK_DATA/SEEK_HOLE to find where a regular file's data lies); file
// data is never read here. The filesystem writers (mkfs/ext4, mkfs/vfat)
// and the Minimize= sizing step consume the Tree, and the writers copy the
// data later with Inode.Open.
//
// # Determinism
//
// The Tree depends only on the sources and the Spec/Options: directory
// entries are sorted by byte-wise name order (never readdir or map order),
// the scan is single-threaded, the umask is never consulted (everything we
// create is 0755 directories and 0777 symlinks), ownership is 0:0 unless
// KeepOwnership, and no time is ever taken from the clock. The only
// dependence on the invoking user is which extended attributes the kernel
// lets it read (trusted.* needs CAP_SYS_ADMIN).
//
// # Semantics (systemd-repart's do_copy_files and copy_tree_at, spec §8.4)
//
// Build runs, in order:
//
//  1. The root directory is created: 0755, 0:0, time SourceDateEpoch or 0.
//     The first CopyFiles line whose target is "/" and whose source
//     resolves to a directory donates that directory's permission bits,
//     extended attributes and (clamped) mtime — not its owner. As in
//     repart, this pass ignores exclusions, and a source targeting "/" that
//     does not exist is an error, not a notice (repart opens it without the
//     ENOENT escape that the copy pass has).
//  2. Each CopyFiles line, in order (see "Copying" below).
//  3. MakeDirectories=: each path and its missing parents are created 0755;
//     an existing entry of any kind is left untouched (mkdir_p semantics).
//  4. MakeSymlinks=: PATH:TARGET; PATH's parent must already exist (repart
//     does not create it) and PATH must not.
//
// # Copying
//
// Source paths resolve under Options.SourceRoot with chase(CHASE_PREFIX_ROOT)
// rules: symlinks in the path, including the last component, are followed,
// and absolute link targets restart at the source root. A link that climbs
// above the source root with ".." is an error (repart would silently clamp
// it), except when the source root is "/", where the kernel clamps too. A
// missing source is a warning and the line is skipped. Target paths
// resolve in the image being built the same way, so a target below an
// image symlink (/lib -> usr/lib) lands where the symlink points.
//
// A directory source is copied recursively. If the target exists and is a
// directory, the contents are merged into it and its metadata is left
// alone; otherwise the target's parents are created (0755) and the target
// directory is created with the source directory's metadata. Inside the
// copy (repart's COPY_MERGE|COPY_REPLACE):
//   - a directory meeting an existing directory merges into it, and the
//     existing one keeps its metadata (first writer wins for directories);
//   - a non-directory meeting an existing non-directory replaces it (later
//     lines win);
//   - a non-directory meeting an existing directory is dropped and the
//     directory kept (repart's unlink fails with EISDIR and COPY_MERGE
//     swallows the EEXIST); we add a warning;
//   - a directory meeting an existing non-directory is an error.
//
// A regular-file source gets its target's parents created and is added
// with its permission bits, xattrs and mtime. An existing target (of any
// kind) is an error, as repart creates it with O_EXCL; so is a target of
// "/". Any other kind of source is an error.
//
// Exclusions are decided per CopyFiles line, exactly as repart's
// make_copy_files_denylist: the denylist holds inodes ((dev, ino) of the
// path after following symlinks, within the source root), not path
// strings, so a hard link to an excluded file is excluded under every
// name, and a path that does not exist excludes nothing. For each line,
// in this order (an inode keeps the first mark it gets):
//   - contents of proc sys dev tmp run var/tmp under the source root;
//   - ExcludeFiles= (source namespace): a trailing "/" excludes the
//     directory's contents, otherwise the inode itself; a line whose source
//     lies at or below an entry is skipped entirely;
//   - ExcludeFilesTarget= (image namespace): a line whose target lies at or
//     below an entry is skipped; entries below the line's target are mapped
//     to the source and excluded like ExcludeFiles=;
//   - with Options.RootPartition and target "/": the contents of
//     <source>/<mount point> for every Options.OtherMountPoints entry and
//     of <source>/{proc,sys,dev,tmp,run,var/tmp}.
//
// An excluded inode is skipped during the recursive copy; a directory whose
// contents are excluded is copied empty. A regular-file source is skipped
// when its own inode is excluded or when any directory between it and the
// source root is (in either way): this is why a file source below /tmp is
// silently ignored. A directory source is only checked for "contents
// excluded" on itself; its ancestors are not consulted (repart's
// copy_tree_at does not look up).
//
// # Metadata
//
// Permission bits (07777, including setuid, setgid and sticky) come from
// the source. Ownership is 0:0 unless Options.KeepOwnership (then the
// source's uid/gid, for copied trees and single files alike; things we
// create are always 0:0). Every inode carries one time, Mtime: the
// source's mtime clamped to SourceDateEpoch when that is set, or
// SourceDateEpoch (else 0) for things we create. Writers use it for atime,
// ctime and mtime (and crtime): ctime cannot be copied from a source
// anyway, and a single time is what DESIGN.md's determinism rule asks
// for. We do not emulate repart's side effect of touching the parent's
// mtime when it creates a directory, nor the wall-clock mtimes the kernel
// gives directories repart writes into.
//
// Extended attributes of every namespace the user can read are kept,
// sorted by name, for every kind of inode (repart copies them only for
// files, directories and symlinks; for fifos and device nodes that lost
// their security.selinux label, which we keep).
//
// Hard links: within one CopyFiles line (repart's hardlink context lives
// for one copy_tree_at call), non-directory sources other than symlinks
// with a link count above one are detected by (dev, ino) and share one
// Inode. Nlink is the number of entries in the finished tree that refer to
// the inode (2 + subdirectories for directories), never the source's count,
// so a link whose partners were excluded or replaced has the right count.
//
// Names are bytes (Go strings are byte sequences); non-UTF-8 names are
// kept. A name longer than 255 bytes is an error naming the path.
package fstree
