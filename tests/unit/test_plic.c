/*
 * test_plic.c - the PLIC through its MMIO registers: priorities, enables,
 * thresholds, claim/complete per the PLIC spec, level-triggered gateways,
 * MEIP/SEIP routing per context, and guest mistakes (bad widths, source 0,
 * contexts that do not exist) that must be harmless.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "cpu/hart.h"
#include "devices/plic.h"
#include "devfake.h"

#define PRIO(s)      (4u * (s))
#define PENDING      0x1000u
#define ENABLE(c)    (0x2000u + 0x80u * (c))
#define THRESH(c)    (0x200000u + 0x1000u * (c))
#define CLAIM(c)     (0x200004u + 0x1000u * (c))

static struct fake_board fb;
static struct device dev;

static int setup(void **state)
{
	struct dev_env env = fake_env(&fb, NULL, 2);
	struct verr e = { "" };
	memset(&dev, 0, sizeof(dev));
	dev.type = &dev_type_plic;
	assert_int_equal(dev_type_plic.create(&dev, &env, NULL, 0, &e), 0);
	dev_type_plic.reset(&dev);
	assert_int_equal(dev.base, 0x0c000000);
	assert_int_equal(dev.size, 0x600000);
	return 0;
}

static int teardown(void **state)
{
	dev_type_plic.destroy(&dev);
	return 0;
}

static void test_claim_complete(void **state)
{
	struct plic *p = dev.priv;
	dev_wr(&dev, PRIO(10), 4, 1);
	dev_wr(&dev, ENABLE(1), 4, 1u << 10);        /* hart 0 S-mode */
	dev_wr(&dev, THRESH(1), 4, 0);
	assert_int_equal(fb.mip[0], 0);
	plic_set_irq(p, 10, true);
	assert_int_equal(fb.mip[0], MIP_SEIP);       /* S context only */
	assert_int_equal(dev_rd(&dev, PENDING, 4), 1u << 10);
	assert_int_equal(dev_rd(&dev, CLAIM(1), 4), 10);
	assert_int_equal(fb.mip[0], 0);              /* claimed: output drops */
	assert_int_equal(dev_rd(&dev, PENDING, 4), 0);
	assert_int_equal(dev_rd(&dev, CLAIM(1), 4), 0);  /* nothing left */
	/* Line still high: completing re-pends it (level-triggered). */
	dev_wr(&dev, CLAIM(1), 4, 10);
	assert_int_equal(fb.mip[0], MIP_SEIP);
	assert_int_equal(dev_rd(&dev, CLAIM(1), 4), 10);
	plic_set_irq(p, 10, false);
	dev_wr(&dev, CLAIM(1), 4, 10);
	assert_int_equal(fb.mip[0], 0);
	assert_int_equal(dev_rd(&dev, PENDING, 4), 0);
}

static void test_line_high_while_claimed_does_not_pend(void **state)
{
	struct plic *p = dev.priv;
	dev_wr(&dev, PRIO(3), 4, 2);
	dev_wr(&dev, ENABLE(0), 4, 1u << 3);         /* hart 0 M-mode */
	plic_set_irq(p, 3, true);
	assert_int_equal(fb.mip[0], MIP_MEIP);
	assert_int_equal(dev_rd(&dev, CLAIM(0), 4), 3);
	plic_set_irq(p, 3, false);
	plic_set_irq(p, 3, true);                     /* new edge while in flight */
	assert_int_equal(dev_rd(&dev, PENDING, 4), 0);
	assert_int_equal(fb.mip[0], 0);
	dev_wr(&dev, CLAIM(0), 4, 3);
	assert_int_equal(fb.mip[0], MIP_MEIP);
}

static void test_priority_and_threshold(void **state)
{
	struct plic *p = dev.priv;
	dev_wr(&dev, PRIO(5), 4, 1);
	dev_wr(&dev, PRIO(40), 4, 3);
	dev_wr(&dev, PRIO(41), 4, 3);
	dev_wr(&dev, ENABLE(3), 4, 1u << 5);         /* hart 1 S-mode */
	dev_wr(&dev, ENABLE(3) + 4, 4, (1u << 8) | (1u << 9));
	plic_set_irq(p, 5, true);
	plic_set_irq(p, 41, true);
	plic_set_irq(p, 40, true);
	assert_int_equal(fb.mip[1], MIP_SEIP);
	assert_int_equal(fb.mip[0], 0);
	dev_wr(&dev, THRESH(3), 4, 3);               /* masks priority <= 3 */
	assert_int_equal(fb.mip[1], 0);
	assert_int_equal(dev_rd(&dev, CLAIM(3), 4), 0);
	dev_wr(&dev, THRESH(3), 4, 1);
	assert_int_equal(fb.mip[1], MIP_SEIP);
	/* Highest priority first, ties to the lowest id, then priority 1 is masked. */
	assert_int_equal(dev_rd(&dev, CLAIM(3), 4), 40);
	assert_int_equal(dev_rd(&dev, CLAIM(3), 4), 41);
	assert_int_equal(dev_rd(&dev, CLAIM(3), 4), 0);
	assert_int_equal(fb.mip[1], 0);
	dev_wr(&dev, THRESH(3), 4, 0);
	assert_int_equal(dev_rd(&dev, CLAIM(3), 4), 5);
	assert_int_equal(dev_rd(&dev, THRESH(3), 4), 0);
	assert_int_equal(dev_rd(&dev, PRIO(40), 4), 3);
	dev_wr(&dev, PRIO(40), 4, 0xffffffff);       /* only 3 priority bits */
	assert_int_equal(dev_rd(&dev, PRIO(40), 4), 7);
}

static void test_priority_zero_never_fires(void **state)
{
	struct plic *p = dev.priv;
	dev_wr(&dev, ENABLE(1), 4, 1u << 7);
	plic_set_irq(p, 7, true);
	assert_int_equal(dev_rd(&dev, PENDING, 4), 1u << 7);
	assert_int_equal(fb.mip[0], 0);
	assert_int_equal(dev_rd(&dev, CLAIM(1), 4), 0);
}

static void test_complete_wrong_context_ignored(void **state)
{
	struct plic *p = dev.priv;
	dev_wr(&dev, PRIO(9), 4, 1);
	dev_wr(&dev, ENABLE(1), 4, 1u << 9);
	plic_set_irq(p, 9, true);
	assert_int_equal(dev_rd(&dev, CLAIM(1), 4), 9);
	dev_wr(&dev, CLAIM(0), 4, 9);   /* context 0 does not have 9 enabled */
	assert_int_equal(fb.mip[0], 0);
	dev_wr(&dev, CLAIM(1), 4, 9);
	assert_int_equal(fb.mip[0], MIP_SEIP);
}

static void test_guest_mistakes(void **state)
{
	struct plic *p = dev.priv;
	/* Source 0 does not exist: its priority and enable bit stay 0. */
	dev_wr(&dev, PRIO(0), 4, 5);
	assert_int_equal(dev_rd(&dev, PRIO(0), 4), 0);
	dev_wr(&dev, ENABLE(0), 4, 0xffffffff);
	assert_int_equal(dev_rd(&dev, ENABLE(0), 4), 0xfffffffe);
	/* Sources above 95 do not exist: there is no fourth enable word. */
	dev_wr(&dev, ENABLE(0) + 12, 4, 0xffffffff);
	assert_int_equal(dev_rd(&dev, ENABLE(0) + 12, 4), 0);
	assert_int_equal(dev_rd(&dev, PENDING + 12, 4), 0);
	plic_set_irq(p, 0, true);
	plic_set_irq(p, 96, true);
	plic_set_irq(p, 1000, true);
	assert_int_equal(dev_rd(&dev, PENDING, 4), 0);
	/* Odd widths and misaligned offsets read 0 and change nothing. */
	dev_wr(&dev, PRIO(4), 1, 3);
	dev_wr(&dev, PRIO(4) + 1, 4, 3);
	dev_wr(&dev, PRIO(4), 8, 3);
	assert_int_equal(dev_rd(&dev, PRIO(4), 4), 0);
	assert_int_equal(dev_rd(&dev, PRIO(4), 2), 0);
	/* Contexts of harts that do not exist (2 harts: contexts 0..3). */
	dev_wr(&dev, ENABLE(4), 4, 0xff);
	dev_wr(&dev, THRESH(4), 4, 1);
	assert_int_equal(dev_rd(&dev, ENABLE(4), 4), 0);
	assert_int_equal(dev_rd(&dev, CLAIM(4), 4), 0);
	dev_wr(&dev, CLAIM(4), 4, 1);
	/* Completing something never claimed or out of range is ignored. */
	dev_wr(&dev, CLAIM(1), 4, 0);
	dev_wr(&dev, CLAIM(1), 4, 5000);
	assert_int_equal(dev_rd(&dev, 0x5ffffc, 4), 0);
	assert_int_equal(fb.mip[0] | fb.mip[1], 0);
}

static void test_reset_keeps_line_levels(void **state)
{
	struct plic *p = dev.priv;
	plic_set_irq(p, 12, true);
	dev_type_plic.reset(&dev);
	dev_wr(&dev, PRIO(12), 4, 1);
	dev_wr(&dev, ENABLE(1), 4, 1u << 12);
	assert_int_equal(fb.mip[0], MIP_SEIP);
	assert_int_equal(plic_state(p)->priority[12], 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_claim_complete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_line_high_while_claimed_does_not_pend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_priority_and_threshold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_priority_zero_never_fires, setup, teardown),
		cmocka_unit_test_setup_teardown(test_complete_wrong_context_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_mistakes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_keeps_line_levels, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
