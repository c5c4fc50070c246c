/*
 * test_vmckpt.c - vm_save / vm_restore: a bare-metal program stopped in the
 * middle, saved, restored into a freshly created VM, must carry on exactly
 * as the original does (registers, memory, device registers), and mtime must
 * continue from the saved value.
 */
/* The obj build's library: its test knobs (dbg_fault_kind) are compiled in. */
#define VMX_DEBUG 1
#define VMX_STATS 1
#define VMX_DEVEL 1
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include "board/board_int.h"
#include "ckpt/ckpt.h"
#include "devices/clint.h"
#include "debug/dbg.h"
#include "boardfiles.h"

/* A raw ELF with one PT_LOAD of code at 0x80000000 (no symbols needed). */
static void write_elf(const char *path, const uint32_t *code, size_t n)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_true(elf_version(EV_CURRENT) != EV_NONE);
	Elf *e = elf_begin(fd, ELF_C_WRITE, NULL);
	Elf64_Ehdr *eh = elf64_newehdr(e);
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_machine = EM_RISCV;
	eh->e_type = ET_EXEC;
	eh->e_entry = 0x80000000;
	assert_non_null(elf64_newphdr(e, 1));
	Elf_Scn *text = elf_newscn(e);
	Elf_Data *d = elf_newdata(text);
	d->d_buf = (void *)code;
	d->d_size = n * 4;
	d->d_align = 4;
	d->d_type = ELF_T_BYTE;
	Elf64_Shdr *sh = elf64_getshdr(text);
	sh->sh_type = SHT_PROGBITS;
	sh->sh_flags = SHF_ALLOC | SHF_EXECINSTR;
	sh->sh_addr = 0x80000000;
	assert_true(elf_update(e, ELF_C_NULL) >= 0);
	Elf64_Phdr *ph = elf64_getphdr(e);
	ph->p_type = PT_LOAD;
	ph->p_offset = elf64_getshdr(text)->sh_offset;
	ph->p_vaddr = ph->p_paddr = 0x80000000;
	ph->p_filesz = ph->p_memsz = n * 4;
	ph->p_flags = PF_R | PF_X;
	ph->p_align = 4;
	elf_flagphdr(e, ELF_C_SET, ELF_F_DIRTY);
	assert_true(elf_update(e, ELF_C_WRITE) >= 0);
	elf_end(e);
	close(fd);
}

static uint64_t rd(struct vm *vm, uint64_t pa, unsigned len)
{
	uint64_t v = 0;
	assert_int_equal(bus_read(&vm->bus, pa, len, &v), 0);
	return v;
}

static void test_save_restore_continues_exactly(void **state)
{
	struct bfiles bf;
	struct vm_config *vc = calloc(1, sizeof(*vc));
	struct vm *a, *b;
	struct verr e = { "" };
	char path[160];
	/*
	 * t1 = 0x80002000; loop: t0 += 1; *t1 = t0; t2 += 3; t1 wraps in a page.
	 */
	static const uint32_t code[] = {
		0x00002317,   /* auipc t1, 2 */
		0x00128293,   /* loop: addi t0, t0, 1 */
		0x00533023,   /* sd t0, 0(t1) */
		0x00338393,   /* addi t2, t2, 3 */
		0xff5ff06f,   /* j loop (-12) */
	};

	bf_setup(&bf, vc, 10);
	vc->deterministic = true;
	vc->numvcpus = 2;
	snprintf(vc->elf, sizeof(vc->elf), "%s/loop.elf", bf.dir);
	write_elf(vc->elf, code, VMX_ARRAY_SIZE(code));
	vc->firmware[0] = vc->kernel[0] = vc->initrd[0] = 0;
	if (vm_create(&a, vc, &e) < 0)
		fail_msg("vm_create: %s", e.msg);
	assert_int_equal(vm_run_insns(a, 100003), VM_RESULT_BUDGET);
	/* Device state a driver would have left behind. */
	assert_int_equal(bus_write(&a->bus, 0x0c000000 + 4 * 10, 4, 5), 0);
	assert_int_equal(bus_write(&a->bus, 0x0c002080, 4, 1u << 10), 0);
	assert_int_equal(bus_write(&a->bus, 0x10000007, 1, 0x5a), 0);
	assert_int_equal(bus_write(&a->bus, 0x02004008, 8, 0x123456789ULL), 0);
	assert_int_equal(bus_write(&a->bus, 0x00101004, 4, 0x77), 0);

	snprintf(path, sizeof(path), "%s/a.vmss", bf.dir);
	struct ckpt_writer *w;
	if (ckpt_writer_open(&w, path, "test", "obj", NULL, &e) < 0 || vm_save(a, w, &e) < 0 ||
	    ckpt_writer_commit(w, &e) < 0)
		fail_msg("save: %s", e.msg);
	uint64_t mtime_saved = clint_mtime(a->clint);

	if (vm_create(&b, vc, &e) < 0)
		fail_msg("vm_create: %s", e.msg);
	struct ckpt_reader *r;
	if (ckpt_reader_open(&r, path, &e) < 0 || vm_restore(b, r, &e) < 0)
		fail_msg("restore: %s", e.msg);
	assert_int_equal(ckpt_memory_wait(r, &e), 0);

	assert_int_equal(hart_get_pc(b->harts[0]), hart_get_pc(a->harts[0]));
	for (unsigned i = 1; i < 32; i++)
		assert_int_equal(hart_get_xreg(b->harts[0], i), hart_get_xreg(a->harts[0], i));
	assert_true(hart_get_xreg(b->harts[0], 5) > 1000);
	assert_int_equal(hart_instret(b->harts[0]), hart_instret(a->harts[0]));
	assert_int_equal(rd(b, 0x80002000, 8), rd(a, 0x80002000, 8));
	assert_int_equal(rd(b, 0x0c000000 + 4 * 10, 4), 5);
	assert_int_equal(rd(b, 0x0c002080, 4), 1u << 10);
	assert_int_equal(rd(b, 0x10000007, 1), 0x5a);
	assert_int_equal(rd(b, 0x02004008, 8), 0x123456789ULL);
	assert_true(clint_mtime(b->clint) >= mtime_saved);
	assert_true(clint_mtime(b->clint) - mtime_saved < 1000);

	/* Both carry on identically. */
	assert_int_equal(vm_run_insns(a, 50000), VM_RESULT_BUDGET);
	assert_int_equal(vm_run_insns(b, 50000), VM_RESULT_BUDGET);
	assert_int_equal(hart_get_pc(b->harts[0]), hart_get_pc(a->harts[0]));
	for (unsigned i = 1; i < 32; i++)
		assert_int_equal(hart_get_xreg(b->harts[0], i), hart_get_xreg(a->harts[0], i));
	assert_int_equal(rd(b, 0x80002000, 8), rd(a, 0x80002000, 8));

	ckpt_reader_close(r);
	vm_destroy(a);
	vm_destroy(b);
	bf_cleanup(&bf);
	free(vc);
}

static void test_restore_refuses_other_machine(void **state)
{
	struct bfiles bf;
	struct vm_config *vc = calloc(1, sizeof(*vc));
	struct vm *a, *b;
	struct verr e = { "" };
	char path[160];
	static const uint32_t code[] = { 0x0000006f };

	bf_setup(&bf, vc, 10);
	snprintf(vc->elf, sizeof(vc->elf), "%s/loop.elf", bf.dir);
	write_elf(vc->elf, code, 1);
	if (vm_create(&a, vc, &e) < 0)
		fail_msg("vm_create: %s", e.msg);
	snprintf(path, sizeof(path), "%s/a.vmss", bf.dir);
	struct ckpt_writer *w;
	if (ckpt_writer_open(&w, path, "test", "obj", NULL, &e) < 0 || vm_save(a, w, &e) < 0 ||
	    ckpt_writer_commit(w, &e) < 0)
		fail_msg("save: %s", e.msg);
	vm_destroy(a);

	struct ckpt_reader *r;
	vc->numvcpus = 2;
	assert_int_equal(vm_create(&b, vc, &e), 0);
	assert_int_equal(ckpt_reader_open(&r, path, &e), 0);
	assert_true(vm_restore(b, r, &e) < 0);
	assert_non_null(strstr(e.msg, "numvcpus"));
	ckpt_reader_close(r);
	vm_destroy(b);

	vc->numvcpus = 1;
	vc->mem_size = 32 << 20;
	assert_int_equal(vm_create(&b, vc, &e), 0);
	assert_int_equal(ckpt_reader_open(&r, path, &e), 0);
	assert_true(vm_restore(b, r, &e) < 0);
	assert_non_null(strstr(e.msg, "memSize"));
	ckpt_reader_close(r);
	vm_destroy(b);
	bf_cleanup(&bf);
	free(vc);
}

/*
 * A device section newer than this vmx reads (the opt/obj knob writes clint0
 * as version 99) is refused with section and version named, before anything
 * of the VM is replaced; the hand-over relies on that to leave the sender
 * free to take the guest back.
 */
static void test_newer_device_version_refused_untouched(void **state)
{
	struct bfiles bf;
	struct vm_config *vc = calloc(1, sizeof(*vc));
	struct vm *a, *b;
	struct verr e = { "" };
	char path[160];
	static const uint32_t code[] = { 0x00128293, 0xffdff06f };   /* loop: addi t0,t0,1; j loop */

	bf_setup(&bf, vc, 10);
	vc->deterministic = true;
	snprintf(vc->elf, sizeof(vc->elf), "%s/loop.elf", bf.dir);
	write_elf(vc->elf, code, VMX_ARRAY_SIZE(code));
	vc->firmware[0] = vc->kernel[0] = vc->initrd[0] = 0;
	assert_int_equal(vm_create(&a, vc, &e), 0);
	assert_int_equal(vm_run_insns(a, 30001), VM_RESULT_BUDGET);
	snprintf(path, sizeof(path), "%s/v99.vmss", bf.dir);
	struct ckpt_writer *w;
	dbg_fault_kind = DBG_FAULT_SECTION_VERSION;
	if (ckpt_writer_open(&w, path, "test", "obj", NULL, &e) < 0 || vm_save(a, w, &e) < 0 ||
	    ckpt_writer_commit(w, &e) < 0)
		fail_msg("save: %s", e.msg);
	dbg_fault_kind = DBG_FAULT_NONE;

	assert_int_equal(vm_create(&b, vc, &e), 0);
	uint64_t pc0 = hart_get_pc(b->harts[0]), x5 = hart_get_xreg(b->harts[0], 5);
	struct ckpt_reader *r;
	assert_int_equal(ckpt_reader_open(&r, path, &e), 0);
	assert_int_equal(ckpt_section_version(r, "clint0"), 99);
	assert_int_equal(ckpt_section_version(r, "plic0"), 2);
	assert_true(vm_restore(b, r, &e) < 0);
	assert_non_null(strstr(e.msg, "section \"clint0\": version 99 is newer than this vmx reads (2)"));
	/* Nothing was replaced: the harts are as vm_create left them. */
	assert_int_equal(hart_get_pc(b->harts[0]), pc0);
	assert_int_equal(hart_get_xreg(b->harts[0], 5), x5);
	assert_true(hart_get_xreg(a->harts[0], 5) > 1000);
	ckpt_reader_close(r);
	vm_destroy(a);
	vm_destroy(b);
	bf_cleanup(&bf);
	free(vc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_save_restore_continues_exactly),
		cmocka_unit_test(test_restore_refuses_other_machine),
		cmocka_unit_test(test_newer_device_version_refused_untouched),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
