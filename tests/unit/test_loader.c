/*
 * test_loader.c - what vm_create puts in RAM and registers: OpenSBI at
 * 0x80000000, the Image at 0x80200000, the initrd below the device tree,
 * struct fw_dynamic_info at a2; clear errors naming the file for missing,
 * wrong or oversized images; and bare-metal ELF programs loaded with
 * libelf and run to their HTIF tohost result, to the test finisher, and
 * through a WFI that only a CLINT timer interrupt ends (idle sleep).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <time.h>
#include "board/board_int.h"
#include "boardfiles.h"

static struct bfiles bf;
static struct vm_config *vc;

static int setup(void **state)
{
	vc = calloc(1, sizeof(*vc));
	bf_setup(&bf, vc, 3000);
	return 0;
}

static int teardown(void **state)
{
	bf_cleanup(&bf);
	free(vc);
	return 0;
}

static void expect_fail(const char *needle1, const char *needle2)
{
	struct vm *vm = NULL;
	struct verr e = { "" };
	assert_true(vm_create(&vm, vc, &e) < 0);
	assert_null(vm);
	if (!strstr(e.msg, needle1) || (needle2 && !strstr(e.msg, needle2)))
		fail_msg("error \"%s\" lacks \"%s\"/\"%s\"", e.msg, needle1, needle2 ? needle2 : "");
}

static void test_linux_layout(void **state)
{
	struct vm *vm;
	struct verr e = { "" };
	vc->numvcpus = 2;
	if (vm_create(&vm, vc, &e) < 0)
		fail_msg("vm_create: %s", e.msg);
	const uint8_t *fw = ram_ptr(&vm->ram, 0x80000000, 4096);
	const uint8_t *k = ram_ptr(&vm->ram, 0x80200000, 8192);
	assert_int_equal(fw[0], 0x11);
	assert_int_equal(fw[4095], 0x11);
	assert_memory_equal(k + 48, "RISCV", 5);
	assert_int_equal(k[8191], 0x5a);
	assert_int_equal(vm->lay.kernel_end, 0x80200000 + 0x300000);
	/* initrd: page aligned, below fw_dynamic_info, which is below the FDT. */
	assert_int_equal(vm->lay.initrd_end - vm->lay.initrd_start, 3000);
	assert_int_equal(vm->lay.initrd_start & 4095, 0);
	assert_true(vm->lay.initrd_end <= vm->lay.fw_info_addr);
	assert_true(vm->lay.fw_info_addr + 48 <= vm->lay.fdt_addr);
	assert_int_equal(*(const uint8_t *)ram_ptr(&vm->ram, vm->lay.initrd_start, 1), 0x33);
	const uint64_t *info = ram_ptr(&vm->ram, vm->lay.fw_info_addr, 48);
	assert_int_equal(info[0], 0x4942534f);
	assert_int_equal(info[1], 2);
	assert_int_equal(info[2], 0x80200000);
	assert_int_equal(info[3], 1);   /* S-mode */
	assert_int_equal(info[4], 0);
	assert_int_equal(info[5], 0);
	for (unsigned h = 0; h < 2; h++) {
		assert_int_equal(hart_get_pc(vm->harts[h]), 0x80000000);
		assert_int_equal(hart_get_xreg(vm->harts[h], 10), h);
		assert_int_equal(hart_get_xreg(vm->harts[h], 11), vm->lay.fdt_addr);
		assert_int_equal(hart_get_xreg(vm->harts[h], 12), vm->lay.fw_info_addr);
	}
	struct vm_status st;
	vm_get_status(vm, &st);
	assert_int_equal(st.numvcpus, 2);
	assert_int_equal(st.mem_size, 64 << 20);
	vm_destroy(vm);
}

static void test_bad_kernel_magic(void **state)
{
	bf_kernel(bf.kernel, 0x300000, false);
	expect_fail(bf.kernel, "RISC-V");
}

static void test_kernel_too_big(void **state)
{
	bf_kernel(bf.kernel, 200ULL << 20, true);
	expect_fail(bf.kernel, "memSize");
	bf_kernel(bf.kernel, UINT64_MAX - 0x1000, true);   /* must not wrap around */
	expect_fail(bf.kernel, "memSize");
}

static void test_missing_files(void **state)
{
	snprintf(vc->firmware, sizeof(vc->firmware), "%s/nope.bin", bf.dir);
	expect_fail("nope.bin", "guest.firmware");
	snprintf(vc->firmware, sizeof(vc->firmware), "%s", bf.fw);
	snprintf(vc->initrd, sizeof(vc->initrd), "%s/missing.gz", bf.dir);
	expect_fail("missing.gz", NULL);
	vc->firmware[0] = 0;
	expect_fail("guest.firmware", NULL);
}

static void test_firmware_overlapping_kernel(void **state)
{
	static uint8_t big[3 << 20];
	bf_write(bf.fw, big, sizeof(big));
	expect_fail(bf.fw, "fit");
}

static void test_initrd_too_big(void **state)
{
	static uint8_t big[14 << 20];
	vc->mem_size = 16 << 20;
	bf_write(bf.initrd, big, sizeof(big));
	expect_fail(bf.initrd, "memSize");
}

/* ---- bare-metal ELF programs ---- */

static uint32_t i_type(uint32_t op, unsigned rd, unsigned f3, unsigned rs1, int32_t imm)
{
	return op | rd << 7 | f3 << 12 | rs1 << 15 | ((uint32_t)imm & 0xfff) << 20;
}
static uint32_t s_type(unsigned f3, unsigned rs1, unsigned rs2, int32_t imm)
{
	return 0x23 | ((uint32_t)imm & 0x1f) << 7 | f3 << 12 | rs1 << 15 | rs2 << 20 |
	       (((uint32_t)imm >> 5) & 0x7f) << 25;
}
static uint32_t u_type(uint32_t op, unsigned rd, uint32_t imm20) { return op | rd << 7 | imm20 << 12; }

#define ADDI(rd, rs, imm) i_type(0x13, rd, 0, rs, imm)
#define LD(rd, rs, imm)   i_type(0x03, rd, 3, rs, imm)
#define SD(rs2, rs1, imm) s_type(3, rs1, rs2, imm)
#define SW(rs2, rs1, imm) s_type(2, rs1, rs2, imm)
#define LUI(rd, imm20)    u_type(0x37, rd, imm20)
#define ADD(rd, a, b)     (0x33u | (rd) << 7 | (a) << 15 | (b) << 20)
#define CSRW(csr, rs)     (0x73u | 1u << 12 | (rs) << 15 | (uint32_t)(csr) << 20)
#define WFI               0x10500073u
#define JSELF             0x0000006fu
enum { T0 = 5, T1 = 6, T2 = 7, T3 = 28 };

#define TOHOST 0x80001000ULL

struct prog {
	uint32_t code[1024 + 2];    /* 4 KiB of code, then tohost */
	unsigned n;
};

static void emit(struct prog *p, uint32_t insn) { p->code[p->n++] = insn; }

/* tohost = value: t0 = value (small), t1 = &tohost via auipc. */
static void emit_tohost(struct prog *p, int32_t value)
{
	uint64_t pc = 0x80000000 + 4ULL * (p->n + 1);
	int64_t delta = (int64_t)(TOHOST - pc);
	emit(p, ADDI(T0, 0, value));
	emit(p, u_type(0x17, T1, (uint32_t)((delta + 0x800) >> 12) & 0xfffff));
	emit(p, ADDI(T1, T1, (int32_t)(delta - (((delta + 0x800) >> 12) << 12))));
	emit(p, SD(T0, T1, 0));
	emit(p, JSELF);
}

static void write_elf(const char *path, const struct prog *p, bool with_tohost)
{
	static const char shstr[] = "\0.text\0.strtab\0.symtab\0.shstrtab";
	static const char str[] = "\0tohost";
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

	Elf_Scn *text = elf_newscn(e), *strs = elf_newscn(e), *syms = elf_newscn(e),
		*shs = elf_newscn(e);
	Elf_Data *d = elf_newdata(text);
	d->d_buf = (void *)p->code;
	d->d_size = sizeof(p->code);
	d->d_align = 8;
	d->d_type = ELF_T_BYTE;
	Elf64_Shdr *sh = elf64_getshdr(text);
	sh->sh_name = 1;
	sh->sh_type = SHT_PROGBITS;
	sh->sh_flags = SHF_ALLOC | SHF_EXECINSTR;
	sh->sh_addr = 0x80000000;

	d = elf_newdata(strs);
	d->d_buf = (void *)str;
	d->d_size = sizeof(str);
	d->d_type = ELF_T_BYTE;
	sh = elf64_getshdr(strs);
	sh->sh_name = 7;
	sh->sh_type = SHT_STRTAB;

	static Elf64_Sym sym[2];
	sym[1].st_name = with_tohost ? 1 : 0;
	sym[1].st_value = TOHOST;
	sym[1].st_size = 8;
	sym[1].st_info = ELF64_ST_INFO(STB_GLOBAL, STT_OBJECT);
	sym[1].st_shndx = (uint16_t)elf_ndxscn(text);
	d = elf_newdata(syms);
	d->d_buf = sym;
	d->d_size = sizeof(sym);
	d->d_type = ELF_T_SYM;
	d->d_align = 8;
	sh = elf64_getshdr(syms);
	sh->sh_name = 15;
	sh->sh_type = SHT_SYMTAB;
	sh->sh_link = (uint32_t)elf_ndxscn(strs);
	sh->sh_info = 1;
	sh->sh_entsize = sizeof(Elf64_Sym);

	d = elf_newdata(shs);
	d->d_buf = (void *)shstr;
	d->d_size = sizeof(shstr);
	d->d_type = ELF_T_BYTE;
	sh = elf64_getshdr(shs);
	sh->sh_name = 23;
	sh->sh_type = SHT_STRTAB;
	eh->e_shstrndx = (uint16_t)elf_ndxscn(shs);

	assert_true(elf_update(e, ELF_C_NULL) >= 0);
	Elf64_Phdr *ph = elf64_getphdr(e);
	ph->p_type = PT_LOAD;
	ph->p_offset = elf64_getshdr(text)->sh_offset;
	ph->p_vaddr = ph->p_paddr = 0x80000000;
	ph->p_filesz = ph->p_memsz = sizeof(p->code);
	ph->p_flags = PF_R | PF_W | PF_X;
	ph->p_align = 8;
	elf_flagphdr(e, ELF_C_SET, ELF_F_DIRTY);
	assert_true(elf_update(e, ELF_C_WRITE) >= 0);
	elf_end(e);
	close(fd);
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t last_cpu_ns;

static enum vm_result run_prog(const struct prog *p, bool with_tohost, uint64_t *code,
			       uint64_t *ns)
{
	struct vm *vm;
	struct verr e = { "" };
	snprintf(vc->elf, sizeof(vc->elf), "%s/prog.elf", bf.dir);
	write_elf(vc->elf, p, with_tohost);
	vc->firmware[0] = vc->kernel[0] = vc->initrd[0] = 0;
	if (vm_create(&vm, vc, &e) < 0)
		fail_msg("vm_create: %s", e.msg);
	assert_int_equal(vm->lay.tohost, with_tohost ? TOHOST : 0);
	assert_int_equal(hart_get_pc(vm->harts[0]), 0x80000000);
	uint64_t t0 = board_now_ns(), c0 = thread_cpu_ns();
	enum vm_result r = vm_run_insns(vm, 100000000);
	*ns = board_now_ns() - t0;
	last_cpu_ns = thread_cpu_ns() - c0;
	*code = vm_tohost_code(vm);
	vm_destroy(vm);
	return r;
}

static void test_elf_tohost_pass_and_fail(void **state)
{
	struct prog *p = calloc(1, sizeof(*p));
	uint64_t code, ns;
	emit_tohost(p, 1);
	assert_int_equal(run_prog(p, true, &code, &ns), VM_RESULT_TOHOST);
	assert_int_equal(code, 0);
	p->n = 0;
	emit_tohost(p, (7 << 1) | 1);    /* riscv-tests: test 7 failed */
	assert_int_equal(run_prog(p, true, &code, &ns), VM_RESULT_TOHOST);
	assert_int_equal(code, 7);
	free(p);
}

static void test_elf_finisher_poweroff(void **state)
{
	struct prog *p = calloc(1, sizeof(*p));
	uint64_t code, ns;
	emit(p, LUI(T1, 0x100));          /* 0x100000: the test finisher */
	emit(p, LUI(T0, 0x5));
	emit(p, ADDI(T0, T0, 0x555));
	emit(p, SW(T0, T1, 0));
	emit(p, JSELF);
	assert_int_equal(run_prog(p, false, &code, &ns), VM_RESULT_POWEROFF);
	assert_int_equal(code, 0);
	p->code[1] = LUI(T0, 0x7);         /* 0x7777: reset */
	p->code[2] = ADDI(T0, T0, 0x777);
	assert_int_equal(run_prog(p, false, &code, &ns), VM_RESULT_RESET);
	p->code[1] = LUI(T0, 0x33);        /* (3 << 16) | 0x3333: failure code 3 */
	p->code[2] = ADDI(T0, T0, 0x333);
	assert_int_equal(run_prog(p, false, &code, &ns), VM_RESULT_POWEROFF);
	assert_int_equal(code, 3);
	free(p);
}

static void test_elf_budget(void **state)
{
	struct prog *p = calloc(1, sizeof(*p));
	uint64_t code, ns;
	emit(p, JSELF);                   /* spins forever */
	assert_int_equal(run_prog(p, true, &code, &ns), VM_RESULT_BUDGET);
	free(p);
}

static void test_elf_wfi_timer_sleeps(void **state)
{
	struct prog *p = calloc(1, sizeof(*p));
	uint64_t code, ns;
	emit(p, LUI(T1, 0x2004));         /* mtimecmp[0] */
	emit(p, LUI(T2, 0x200c));
	emit(p, LD(T0, T2, -8));          /* mtime at 0x200bff8 */
	emit(p, LUI(T3, 50));             /* + 204800 ticks = 20.48 ms */
	emit(p, ADD(T0, T0, T3));
	emit(p, SD(T0, T1, 0));
	emit(p, ADDI(T0, 0, 0x80));       /* mie.MTIE; mstatus.MIE stays 0 */
	emit(p, CSRW(0x304, T0));
	emit(p, WFI);
	emit_tohost(p, 1);
	assert_int_equal(run_prog(p, true, &code, &ns), VM_RESULT_TOHOST);
	assert_int_equal(code, 0);
	assert_true(ns >= 20000000);      /* woke by the timer, not earlier */
	assert_true(ns < 2000000000);
	/* It slept instead of spinning: far less CPU than wall time waiting. */
	print_message("wfi wait: %llu us wall, %llu us cpu\n", (unsigned long long)(ns / 1000),
		      (unsigned long long)(last_cpu_ns / 1000));
	assert_true(last_cpu_ns < ns / 2);
	free(p);
}

static void test_elf_errors(void **state)
{
	snprintf(vc->elf, sizeof(vc->elf), "%s", bf.kernel);   /* not an ELF */
	expect_fail(bf.kernel, "ELF");
	struct prog *p = calloc(1, sizeof(*p));
	emit_tohost(p, 1);
	snprintf(vc->elf, sizeof(vc->elf), "%s/prog.elf", bf.dir);
	write_elf(vc->elf, p, true);
	vc->mem_size = 16 << 20;
	free(p);
	struct vm *vm;
	struct verr e = { "" };
	assert_int_equal(vm_create(&vm, vc, &e), 0);
	vm_destroy(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_linux_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_kernel_magic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kernel_too_big, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_firmware_overlapping_kernel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_initrd_too_big, setup, teardown),
		cmocka_unit_test_setup_teardown(test_elf_tohost_pass_and_fail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_elf_finisher_poweroff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_elf_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_elf_wfi_timer_sleeps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_elf_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
