#!/usr/bin/env bash
# stage.sh OUT: assemble OUT/stage, the --copy-source tree of the appliance
# image (examples/appliance/*.conf), from this directory's content/ and from
# three Debian packages fetched with `apt-get download` into $APPLIANCE_DEBS
# (default OUT/debs; kept there as a cache; nothing is installed):
#   linux-image-amd64's kernel package  /boot/vmlinuz-*, a few modules
#   systemd-boot-efi                     systemd-bootx64.efi
#   busybox-static                       /bin/busybox
# OUT/stage/esp becomes the ESP, OUT/stage/sysroot the ext4 root. The initrd
# (busybox, the modules, content/initrd/init) is a newc cpio archive made
# here; it is the only thing built, and it is built reproducibly.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(mkdir -p "$1" && cd "$1" && pwd)
debs=${APPLIANCE_DEBS:-$out/debs} stage=$out/stage x=$out/extract
mkdir -p "$debs"
rm -rf "$stage" "$x"

# The kernel package linux-image-amd64 depends on, e.g. linux-image-6.1.0-56-amd64.
kpkg=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n1)
[ -n "$kpkg" ] || { echo "stage.sh: cannot resolve linux-image-amd64" >&2; exit 1; }
for p in "$kpkg" systemd-boot-efi busybox-static; do
	if ! ls "$debs/${p}_"*.deb >/dev/null 2>&1; then
		(cd "$debs" && apt-get download "$p" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) || true
	fi
	f=$(ls "$debs/${p}_"*.deb | tail -n1)
	mkdir -p "$x/$p" && dpkg-deb -x "$f" "$x/$p"
done
kroot=$x/$kpkg
kver=$(basename "$(ls -d "$kroot"/lib/modules/*)")
busybox=$x/busybox-static/bin/busybox

# ESP: systemd-boot, its configuration, the kernel, the initrd.
mkdir -p "$stage/esp/EFI/BOOT"
cp -r "$here/content/esp/." "$stage/esp/"
cp "$x/systemd-boot-efi/usr/lib/systemd/boot/efi/systemd-bootx64.efi" "$stage/esp/EFI/BOOT/BOOTX64.EFI"
cp "$kroot/boot/vmlinuz-$kver" "$stage/esp/vmlinuz"

# Root: busybox with a link per applet, /init-script, /etc.
links() { # links DIR: busybox at DIR/bin/busybox and its applet links
	mkdir -p "$1/bin" "$1/sbin" "$1/usr/bin" "$1/usr/sbin"
	cp "$busybox" "$1/bin/busybox"
	"$busybox" --list-full | while read -r a; do
		[ -e "$1/$a" ] || ln -s /bin/busybox "$1/$a"
	done
}
mkdir -p "$stage/sysroot"
cp -r "$here/content/sysroot/." "$stage/sysroot/"
links "$stage/sysroot"
ln -s /proc/self/mounts "$stage/sysroot/etc/mtab"

# resize2fs (dynamically linked, so with its libraries) from the build
# host's e2fsprogs, if it has one: /init-script grows the root file system
# online when the partition has been enlarged.
if r=$(command -v resize2fs); then
	rm -f "$stage/sysroot/sbin/resize2fs"
	cp -L "$r" "$stage/sysroot/sbin/resize2fs"
	ldd "$r" | grep -o '/[^ ]*' | while read -r lib; do
		mkdir -p "$stage/sysroot$(dirname "$lib")"
		cp -L "$lib" "$stage/sysroot$lib"
	done
fi

# Initrd: busybox, the modules for a virtio disk holding ext4 (in load
# order: dependencies first; ext4 finds crc32c through the crypto API;
# efivarfs lets /init-script read what systemd-boot recorded), /init.
ird=$x/initrd
mkdir -p "$ird/proc" "$ird/sys" "$ird/dev" "$ird/newroot" "$ird/lib/modules"
links "$ird"
cp "$here/content/initrd/init" "$ird/init"
mods="crc16 crc32c_generic mbcache jbd2 ext4 virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk efivarfs"
for m in $mods; do
	f=$(find "$kroot/lib/modules/$kver/kernel" -name "$m.ko")
	[ -n "$f" ] || { echo "stage.sh: module $m not in $kpkg" >&2; exit 1; }
	cp "$f" "$ird/lib/modules/$m.ko"
done
echo "$mods" > "$ird/modules"
find "$ird" -exec touch -h -d @0 {} +
(cd "$ird" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible) |
	gzip -n -9 > "$stage/esp/initrd.img"
echo "$stage"
