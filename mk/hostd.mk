# hostd.mk - hostd (the per-host daemon) and its command-line clients
# (vmx-buildtype, vmx3-cmd), built once into $(B)/host like vmx-ctl.
# Included from the Makefile after mk/host.mk (uses HOST_CFLAGS and
# $(B)/host/libvmx3host.a).

HOSTD_SRCS     := $(wildcard src/hostd/*.c)
# Objects go to hostd.o/, since $(B)/host/hostd is the program.
HOSTD_OBJS     := $(patsubst src/hostd/%.c,$(B)/host/hostd.o/%.o,$(HOSTD_SRCS))
HOSTD_LIBS     := -lmicrohttpd -ljansson -lsqlite3 -lsodium -lpthread -lz
# What hostd shares with the stats tools: the callstack profile's model and
# the ustats reader (src/hostd/vmdata.c serves both as JSON).
HOSTD_SHARED_SRCS := src/cstools/csp.c src/stats/ustats_read.c
HOSTD_SHARED_OBJS := $(B)/host/cstools/csp.o $(B)/host/stats/ustats_read.o
# The web interface (src/ui/), compiled in as a generated C table.
UI_SRCS        := $(wildcard src/ui/*)
UI_ASSETS_C    := $(B)/host/ui_assets.c

$(UI_ASSETS_C): $(UI_SRCS) scripts/ui-embed.py
	@mkdir -p $(@D)
	@echo "  GEN [host] $@"
	$(Q)python3 scripts/ui-embed.py src/ui $@

$(B)/host/hostd.o/ui_assets.o: $(UI_ASSETS_C) src/hostd/hostd.h
	@mkdir -p $(@D)
	$(Q)$(CC) $(HOST_CFLAGS) -c $< -o $@
CLI_COMMON_OBJS := $(B)/host/cli/cli_common.o
CLI_LIBS       := -lcurl -ljansson

$(B)/host/hostd.o/%.o: src/hostd/%.c
	@mkdir -p $(@D)
	@echo "  CC [host] $<"
	$(Q)$(CC) $(HOST_CFLAGS) -c $< -o $@

$(B)/host/hostd: $(HOSTD_OBJS) $(B)/host/hostd.o/ui_assets.o $(HOSTD_SHARED_OBJS) $(B)/host/libvmx3host.a
	@echo "  LD [host] $@"
	$(Q)$(CC) -o $@ $^ $(HOSTD_LIBS)

$(B)/host/vmx-buildtype: $(B)/host/cli/vmx_buildtype.o $(CLI_COMMON_OBJS) $(B)/host/libvmx3host.a
	@echo "  LD [host] $@"
	$(Q)$(CC) -o $@ $^ $(CLI_LIBS)

$(B)/host/vmx3-cmd: $(B)/host/cli/vmx3_cmd.o $(CLI_COMMON_OBJS) $(B)/host/libvmx3host.a
	@echo "  LD [host] $@"
	$(Q)$(CC) -o $@ $^ $(CLI_LIBS)

HOST_PROGS += $(B)/host/hostd $(B)/host/vmx-buildtype $(B)/host/vmx3-cmd
-include $(wildcard $(B)/host/hostd.o/*.d)

# Unit tests of hostd's modules: the obj library does not contain hostd, so
# these link hostd's sources (all but main.c) directly, with the test flags.
# A more specific pattern than tests.mk's, so make prefers it.
HOSTD_UNIT_SRCS := $(filter-out src/hostd/main.c,$(HOSTD_SRCS))
$(B)/tests/unit/test_hostd_%: tests/unit/test_hostd_%.c $(HOSTD_UNIT_SRCS) $(HOSTD_SHARED_SRCS) $(UI_ASSETS_C) $(B)/obj/libvmx.a
	@mkdir -p $(@D)
	@echo "  CC [test] $<"
	$(Q)$(CC) $(TEST_CFLAGS) -o $@ $< $(HOSTD_UNIT_SRCS) $(HOSTD_SHARED_SRCS) $(UI_ASSETS_C) $(B)/obj/libvmx.a \
	    -fsanitize=address,undefined $(TEST_LIBS) $(HOSTD_LIBS)

# The demo: hostd on an embedded default state under $(B)/demo, the default
# guest registered, powered on, switched to stats and back while it runs.
hostd-demo: all guest
	B=$(B) src/hostd/demo.sh

# Ends what a demo run from a terminal left running for the web interface.
demo-stop:
	@if [ -s $(B)/demo/hostd.pid ]; then \
	  VMX3_SERVER=unix:$(CURDIR)/$(B)/demo/hostd/hostd.sock VMX3_USER=root VMX3_PASSWORD=vmx3-demo \
	    $(B)/host/vmx3-cmd power "$$(cat $(B)/demo/hostd.vmid 2>/dev/null)" hardOff >/dev/null 2>&1 || true; \
	  kill $$(cat $(B)/demo/hostd.pid) 2>/dev/null || true; rm -f $(B)/demo/hostd.pid $(B)/demo/hostd.vmid; \
	  echo "demo: hostd stopped"; else echo "demo: nothing running"; fi

.PHONY: hostd-demo demo-stop
