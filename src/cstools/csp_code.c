/*
 * csp_code.c - vmx-callstack: the bytes of guest code for the instruction
 * view, from the guest ELF (its loadable segments, by virtual address) or
 * from a flat kernel Image placed at its virtual address, and a linear
 * disassembly of an ELF's executable sections with the monitor's decoder
 * (the test that compares it with objdump).
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../cpu/disasm.h"
#include "csp.h"

static int elf_open(const char *path, int *fd, Elf **elf)
{
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return -errno;
	*elf = elf_begin(*fd, ELF_C_READ, NULL);
	if (!*elf || elf_kind(*elf) != ELF_K_ELF) {
		if (*elf)
			elf_end(*elf);
		close(*fd);
		return -ENOEXEC;
	}
	return 0;
}

bool csp_is_elf(const char *path)
{
	unsigned char m[4] = { 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool yes = fd >= 0 && read(fd, m, 4) == 4 && !memcmp(m, "\177ELF", 4);
	if (fd >= 0)
		close(fd);
	return yes;
}

/* Reads [off, off + len) of fd, short at end of file; bytes read or -errno. */
static ssize_t read_at(int fd, uint64_t off, uint8_t *out, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, out + got, len - got, (off_t)(off + got));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

ssize_t csp_code_read(const char *path, uint64_t image_va, uint64_t va, uint8_t *out, size_t len)
{
	int fd, rc;
	Elf *elf;
	size_t nph;
	ssize_t got = 0;

	if (!csp_is_elf(path)) {
		/* A flat image: file offset = va - image_va. */
		if (va < image_va)
			return -ERANGE;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		got = read_at(fd, va - image_va, out, len);
		close(fd);
		return got;
	}
	rc = elf_open(path, &fd, &elf);
	if (rc < 0)
		return rc;
	if (elf_getphdrnum(elf, &nph) != 0)
		nph = 0;
	/* The part of the range in the segment holding va, from the file. */
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (va < ph.p_vaddr || va - ph.p_vaddr >= ph.p_filesz)
			continue;
		uint64_t in = va - ph.p_vaddr, n = ph.p_filesz - in;
		got = read_at(fd, ph.p_offset + in, out, n < len ? (size_t)n : len);
		break;
	}
	elf_end(elf);
	close(fd);
	return got;
}

int csp_disasm_elf(const char *path, unsigned flags, FILE *out)
{
	int fd, rc;
	Elf *elf;
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	rc = elf_open(path, &fd, &elf);
	if (rc < 0)
		return rc;
	GElf_Ehdr eh;
	if (!gelf_getehdr(elf, &eh) || eh.e_machine != EM_RISCV ||
	    elf_getshdrstrndx(elf, &shstrndx) != 0) {
		rc = -ENOEXEC;
		goto out;
	}
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS || !(sh.sh_flags & SHF_EXECINSTR))
			continue;
		data = elf_getdata(scn, NULL);
		if (!data || !data->d_buf)
			continue;
		const uint8_t *b = data->d_buf;
		size_t n = data->d_size, off = 0;
		const char *name = elf_strptr(elf, shstrndx, sh.sh_name);
		fprintf(out, "# section %s\n", name ? name : "?");
		while (off + 2 <= n) {
			uint32_t raw = (uint32_t)b[off] | (uint32_t)b[off + 1] << 8;
			char text[96];
			if ((raw & 3) == 3) {
				if (off + 4 > n)
					break;
				raw |= (uint32_t)b[off + 2] << 16 | (uint32_t)b[off + 3] << 24;
			}
			int l = disasm_insn_flags(raw, sh.sh_addr + off, flags, text, sizeof(text));
			if (l < 0) {
				rc = l;
				goto out;
			}
			fprintf(out, "%llx\t%0*x\t%s\n", (unsigned long long)(sh.sh_addr + off), 2 * l,
				raw, text);
			off += (size_t)l;
		}
	}
out:
	elf_end(elf);
	close(fd);
	return rc;
}
