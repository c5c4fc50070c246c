/*
 * loader.c - puts the guest's software into RAM before the harts start.
 *
 * Linux boot (as QEMU virt with -bios fw_dynamic.bin -kernel -initrd):
 *   0x80000000         OpenSBI fw_dynamic.bin (must end below the kernel)
 *   0x80200000         kernel Image (checked: RISC-V Image header magic)
 *   top of RAM below 3 GiB, 2 MiB aligned: the device tree, with the
 *                      struct fw_dynamic_info in the page below it and the
 *                      initrd below that.
 * Bare metal (guest.elf / --elf): the ELF's PT_LOAD segments, read with
 * libelf, and the address of its `tohost` symbol for HTIF.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "board_int.h"
#include "../lib/fileutil.h"
#include "../lib/log.h"

#define MiB (1ULL << 20)
#define IMAGE_HDR_LEN    64
#define IMAGE_MAGIC      "RISCV\0\0\0"
#define IMAGE_MAGIC2     "RSC\x05"

struct fw_dynamic_info {
	uint64_t magic, version, next_addr, next_mode, options, boot_hart;
};

static uint64_t align_down(uint64_t v, uint64_t a) { return v & ~(a - 1); }

static void notify_written(struct vm *vm, uint64_t pa, uint64_t len)
{
	if (vm->bus.ram_written && len)
		vm->bus.ram_written(vm->bus.ram_written_ctx, pa, len);
}

/* Opens path and returns its size; errors name the file and the key. */
static int open_sized(const char *what, const char *path, int *fd, uint64_t *size, struct verr *e)
{
	struct stat st;
	*fd = file_open_typed(path, O_RDONLY | O_CLOEXEC, 0, FILE_T_REG, e);
	if (*fd < 0)
		return verr_prefix(e, *fd, "%s", what);
	if (fstat(*fd, &st) < 0) {
		int rc = -errno;
		close(*fd);
		return verr_set(e, rc, "%s %s: %s", what, path, strerror(-rc));
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

/* Reads the whole file into guest RAM at gpa; it must fit below limit. */
static int load_raw(struct vm *vm, const char *what, const char *path, uint64_t gpa,
		    uint64_t limit, uint64_t *size, struct verr *e)
{
	int fd, r;
	uint64_t len, done = 0;
	if ((r = open_sized(what, path, &fd, &len, e)) < 0)
		return r;
	uint8_t *dst = ram_ptr(&vm->ram, gpa, len);
	if (len == 0 || !dst || gpa + len > limit) {
		close(fd);
		return verr_set(e, len ? -EFBIG : -EINVAL, "%s %s: %s (%llu bytes at %#llx)", what,
				path, len ? "does not fit in guest memory" : "is empty",
				(unsigned long long)len, (unsigned long long)gpa);
	}
	while (done < len) {
		ssize_t n = pread(fd, dst + done, len - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			close(fd);
			return verr_set(e, r, "%s %s: read failed: %s", what, path, strerror(-r));
		}
		done += (uint64_t)n;
	}
	close(fd);
	notify_written(vm, gpa, len);
	*size = len;
	return 0;
}

int board_check_image(const void *hdr, size_t len, uint64_t *image_size)
{
	const uint8_t *h = hdr;
	if (len < IMAGE_HDR_LEN || memcmp(h + 48, IMAGE_MAGIC, 8) != 0 ||
	    memcmp(h + 56, IMAGE_MAGIC2, 4) != 0)
		return -ENOEXEC;
	memcpy(image_size, h + 16, 8);
	return 0;
}

static int load_kernel(struct vm *vm, uint64_t limit, struct verr *e)
{
	const char *path = vm->vc.kernel;
	uint8_t hdr[IMAGE_HDR_LEN];
	uint64_t fsize, isize, loaded;
	int fd, r;

	if ((r = open_sized("guest.kernel", path, &fd, &fsize, e)) < 0)
		return r;
	ssize_t n = pread(fd, hdr, sizeof(hdr), 0);
	close(fd);
	if (n != (ssize_t)sizeof(hdr) || board_check_image(hdr, sizeof(hdr), &isize) < 0)
		return verr_set(e, -ENOEXEC, "guest.kernel %s: not a RISC-V Linux Image "
				"(no \"RISCV\" magic at offset 48 / \"RSC\\x05\" at 56)", path);
	if (isize < fsize)
		isize = fsize;   /* old headers may leave image_size 0 */
	if (isize > limit - vm->lay.kernel_addr)
		return verr_set(e, -EFBIG, "guest.kernel %s: needs %llu MiB at %#llx, "
				"more than memSize leaves", path, (unsigned long long)(isize / MiB),
				(unsigned long long)vm->lay.kernel_addr);
	if ((r = load_raw(vm, "guest.kernel", path, vm->lay.kernel_addr, limit, &loaded, e)) < 0)
		return r;
	vm->lay.kernel_end = vm->lay.kernel_addr + isize;
	return 0;
}

static int load_linux(struct vm *vm, struct verr *e)
{
	uint64_t ram_end = vm->ram.base + vm->ram.size, size;
	uint64_t top = ram_end < 0xc0000000ULL ? ram_end : 0xc0000000ULL;
	int r;

	if (!vm->vc.firmware[0] && !vm->vc.resume)
		return verr_set(e, -EINVAL, "guest.firmware is not set (OpenSBI fw_dynamic.bin)");
	if (!vm->vc.kernel[0] && !vm->vc.resume)
		return verr_set(e, -EINVAL, "guest.kernel is not set (a RISC-V Linux Image)");

	vm->lay.entry = vm->ram.base;
	vm->lay.kernel_addr = vm->ram.base + VM_KERNEL_OFFSET;
	vm->lay.fdt_size = VM_FDT_SIZE;
	vm->lay.fdt_addr = align_down(top - vm->lay.fdt_size, 2 * MiB);
	vm->lay.fw_info_addr = vm->lay.fdt_addr - 4096;
	/* Resuming: the checkpoint brings RAM, so loading the images would be wasted. */
	if (vm->vc.resume)
		return 0;

	if ((r = load_raw(vm, "guest.firmware", vm->vc.firmware, vm->ram.base, vm->lay.kernel_addr,
			  &size, e)) < 0)
		return r;
	if ((r = load_kernel(vm, vm->lay.fw_info_addr, e)) < 0)
		return r;
	if (vm->vc.initrd[0]) {
		int fd;
		if ((r = open_sized("guest.initrd", vm->vc.initrd, &fd, &size, e)) < 0)
			return r;
		close(fd);
		uint64_t start = align_down(vm->lay.fw_info_addr - size, 4096);
		if (size >= vm->lay.fw_info_addr || start < vm->lay.kernel_end)
			return verr_set(e, -EFBIG, "guest.initrd %s: %llu bytes do not fit between "
					"the kernel and the device tree; raise memSize",
					vm->vc.initrd, (unsigned long long)size);
		if ((r = load_raw(vm, "guest.initrd", vm->vc.initrd, start, vm->lay.fw_info_addr,
				  &size, e)) < 0)
			return r;
		vm->lay.initrd_start = start;
		vm->lay.initrd_end = start + size;
	}

	struct fw_dynamic_info info = {
		.magic = VM_FW_INFO_MAGIC, .version = 2, .next_addr = vm->lay.kernel_addr,
		.next_mode = PRIV_S, .options = 0, .boot_hart = 0,
	};
	if (bus_dma_write(&vm->bus, vm->lay.fw_info_addr, &info, sizeof(info)) < 0)
		return verr_set(e, -EFAULT, "fw_dynamic_info does not fit in RAM");
	return board_write_fdt(vm, e);
}

static int elf_find_tohost(Elf *elf, uint64_t *addr)
{
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !sh.sh_entsize)
			continue;
		Elf_Data *data = elf_getdata(scn, NULL);
		for (size_t i = 0; data && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *name;
			if (!gelf_getsym(data, (int)i, &sym))
				continue;
			name = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (name && strcmp(name, "tohost") == 0) {
				*addr = sym.st_value;
				return 0;
			}
		}
	}
	return -ENOENT;
}

int board_load_elf(struct vm *vm, const char *path, struct verr *e)
{
	Elf *elf = NULL;
	GElf_Ehdr eh;
	size_t phnum;
	uint64_t fsize;
	int fd, r;

	if ((r = open_sized("guest.elf", path, &fd, &fsize, e)) < 0)
		return r;
	if (elf_version(EV_CURRENT) == EV_NONE) {
		r = verr_set(e, -ENOSYS, "libelf: %s", elf_errmsg(-1));
		goto out;
	}
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh) ||
	    gelf_getclass(elf) != ELFCLASS64 || eh.e_machine != EM_RISCV ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB) {
		r = verr_set(e, -ENOEXEC, "guest.elf %s: not a 64-bit little-endian RISC-V ELF file",
			     path);
		goto out;
	}
	if (elf_getphdrnum(elf, &phnum) < 0) {
		r = verr_set(e, -ENOEXEC, "guest.elf %s: %s", path, elf_errmsg(-1));
		goto out;
	}
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		uint8_t *dst = ram_ptr(&vm->ram, ph.p_paddr, ph.p_memsz);
		if (!dst || ph.p_filesz > ph.p_memsz || ph.p_offset > fsize ||
		    ph.p_filesz > fsize - ph.p_offset) {
			r = verr_set(e, -EFBIG, "guest.elf %s: segment %zu (%#llx, %llu bytes) is "
				     "outside guest RAM or the file", path, i,
				     (unsigned long long)ph.p_paddr, (unsigned long long)ph.p_memsz);
			goto out;
		}
		if (pread(fd, dst, ph.p_filesz, (off_t)ph.p_offset) != (ssize_t)ph.p_filesz) {
			r = verr_set(e, -EIO, "guest.elf %s: short read", path);
			goto out;
		}
		memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
		notify_written(vm, ph.p_paddr, ph.p_memsz);
	}
	vm->lay.entry = eh.e_entry;
	if (elf_find_tohost(elf, &vm->lay.tohost) < 0)
		LOG_WRN("guest.elf %s: no tohost symbol; the program can only end by powering off",
			path);
	r = 0;
out:
	if (elf)
		elf_end(elf);
	close(fd);
	return r;
}

int board_load(struct vm *vm, struct verr *e)
{
	memset(&vm->lay, 0, sizeof(vm->lay));
	if (vm->vc.elf[0]) {
		/* The device tree still goes high in RAM for programs that want it. */
		uint64_t ram_end = vm->ram.base + vm->ram.size;
		uint64_t top = ram_end < 0xc0000000ULL ? ram_end : 0xc0000000ULL;
		vm->lay.fdt_size = VM_FDT_SIZE;
		vm->lay.fdt_addr = align_down(top - vm->lay.fdt_size, 2 * MiB);
		/* Written first so that a program overlapping it wins. */
		int r = board_write_fdt(vm, e);
		return r < 0 ? r : board_load_elf(vm, vm->vc.elf, e);
	}
	return load_linux(vm, e);
}
