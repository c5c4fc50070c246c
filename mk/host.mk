# host.mk - programs that are not the monitor (tools, later hostd), built once
# into $(B)/host with the shared library's sources.

HOST_CFLAGS := $(BASE_CFLAGS) -O2 -fno-omit-frame-pointer
# The monitor's instruction decoder and its text form come along, so the
# callstack viewer disassembles guest code the way the hart decodes it.
HOST_LIB_SRCS := $(wildcard src/lib/*.c) src/cpu/decode.c src/cpu/disasm.c
HOST_LIB_OBJS := $(patsubst src/%.c,$(B)/host/%.o,$(HOST_LIB_SRCS)) $(B)/host/version.o

$(B)/host/%.o: src/%.c
	@mkdir -p $(@D)
	@echo "  CC [host] $<"
	$(Q)$(CC) $(HOST_CFLAGS) -c $< -o $@

$(B)/host/version.o: $(B)/release/version.c
	@mkdir -p $(@D)
	$(Q)$(CC) $(HOST_CFLAGS) -c $< -o $@

$(B)/host/libvmx3host.a: $(HOST_LIB_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

# vmx-ctl: talk to a running vmx's control socket.
$(B)/host/vmx-ctl: $(B)/host/tools/vmx_ctl.o $(B)/host/libvmx3host.a
	@echo "  LD [host] $@"
	$(Q)$(CC) -o $@ $^ -ljansson -lpthread

HOST_PROGS += $(B)/host/vmx-ctl
-include $(wildcard $(B)/host/*/*.d)
