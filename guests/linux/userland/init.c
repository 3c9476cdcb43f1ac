/* SPDX-License-Identifier: MIT */
/*
 * /init of the Skiff guest (PID 1): mounts /proc, /sys, /dev and the data disk, then keeps a shell
 * on the console, running the kernel command line's skiff.run= commands first. With a network
 * interface it also serves: BusyBox httpd on port 80, inetd (echo on 7, benchmark sink and
 * source) and Dropbear on 22 (/etc/skiff/sshd). As PID 1 it also reaps every orphaned process.
 */
#include "skiff.h"

#define SHELL "/bin/sh"
#define RUN_PARAM "skiff.run="
#define WWW "/www"

static void say(const char *a, const char *b)
{
	out_str("init: ");
	out_str(a);
	out_str(b);
	out_nl();
}

static void mount_or_warn(const char *src, const char *dir, const char *type)
{
	int ret = sys_mount(src, dir, type, 0, 0);

	/* EBUSY: already mounted (e.g. devtmpfs by the kernel) */
	if (ret < 0 && ret != -EBUSY) {
		char what[64];

		concat3(what, sizeof(what), "mount ", dir, "");
		fail(what, ret);
	}
}

/*
 * Extracts skiff.run= from the kernel command line into out. The kernel command line cannot carry
 * spaces inside an unquoted parameter, so in an unquoted value '_' stands for a space and "__" for
 * '_'; a quoted value (skiff.run="echo hi") is taken verbatim. Returns 1 if the parameter exists.
 */
static int run_param(const char *cmdline, char *out, int size)
{
	const char *p = cmdline;

	while (*p) {
		char token[1024];
		int len = 0, quoted = 0, in_quote = 0;

		while (*p == ' ' || *p == '\n')
			p++;
		for (; *p && (in_quote || (*p != ' ' && *p != '\n')); p++) {
			if (*p == '"') {
				in_quote = !in_quote;
				quoted = 1;
				continue;
			}
			if (len < (int)sizeof(token) - 1)
				token[len++] = *p;
		}
		token[len] = 0;
		if (!strncmp(token, RUN_PARAM, sizeof(RUN_PARAM) - 1)) {
			const char *v = token + sizeof(RUN_PARAM) - 1;
			int n = 0;

			for (; *v && n < size - 1; v++) {
				if (!quoted && v[0] == '_' && v[1] == '_')
					out[n++] = *v++;
				else if (!quoted && *v == '_')
					out[n++] = ' ';
				else
					out[n++] = *v;
			}
			out[n] = 0;
			return 1;
		}
	}
	return 0;
}

/* Value of a plain name=value kernel parameter (name includes the '='); 1 if present. */
static int plain_param(const char *cmdline, const char *name, char *out, int size)
{
	const char *p = cmdline;
	int len = strlen(name);

	while (*p) {
		int n = 0;

		while (*p == ' ' || *p == '\n')
			p++;
		if (!strncmp(p, name, len)) {
			for (p += len; *p && *p != ' ' && *p != '\n' && n < size - 1; p++)
				out[n++] = *p;
			out[n] = 0;
			return 1;
		}
		while (*p && *p != ' ' && *p != '\n')
			p++;
	}
	return 0;
}

/* struct ifreq as SIOC[GS]IFFLAGS use it (32 bytes on rv32) */
struct if_flags {
	char name[16];
	short flags;
	char pad[14];
};

/* Sets IFF_UP on an interface. An ioctl, not `ip link set`: no exec on the boot path. */
static int link_up(const char *ifname)
{
	struct if_flags ifr;
	int fd = my_syscall3(__NR_socket, 2 /* AF_INET */, 2 /* SOCK_DGRAM */, 0), ret;

	if (fd < 0)
		return fd;
	memset(&ifr, 0, sizeof(ifr));
	concat3(ifr.name, sizeof(ifr.name), ifname, "", "");
	ret = sys_ioctl(fd, 0x8913 /* SIOCGIFFLAGS */, &ifr);
	if (ret == 0 && !(ifr.flags & 1)) {
		ifr.flags |= 1; /* IFF_UP */
		ret = sys_ioctl(fd, 0x8914 /* SIOCSIFFLAGS */, &ifr);
	}
	sys_close(fd);
	return ret;
}

/* Starts a daemon in its own session with stdio on /dev/null, so console keys never signal it. */
static void spawn_daemon(char **argv, char **envp)
{
	int pid = sys_fork();

	if (pid == 0) {
		int fd = sys_open("/dev/null", O_RDWR, 0);

		sys_setsid();
		if (fd >= 0) {
			sys_dup2(fd, 0);
			sys_dup2(fd, 1);
			sys_dup2(fd, 2);
		}
		sys_exit(-sys_execve(argv[0], argv, envp));
	}
	if (pid < 0)
		fail(argv[0], pid);
}

/* Writes the home page: its body names the VPS (its hostname). */
static void write_page(const char *host)
{
	char page[512];
	int fd = sys_open(WWW "/index.html", O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0) {
		fail(WWW "/index.html", fd);
		return;
	}
	concat3(page, sizeof(page), "<!doctype html>\n<html><head><title>", host, "</title></head>\n");
	sys_write(fd, page, strlen(page));
	concat3(page, sizeof(page), "<body><h1>", host, "</h1><p>A Skiff VPS.</p></body></html>\n");
	sys_write(fd, page, strlen(page));
	sys_close(fd);
}

/*
 * With an eth0: the address comes from the kernel's own DHCP client (ip=dhcp on the command line,
 * done before /init runs; it also takes the hostname from DHCP option 12). hostname= on the
 * command line names the VPS explicitly. Then httpd, inetd and the SSH server start.
 */
static void start_network(const char *cmdline, char **envp)
{
	static char *httpd[] = { "/usr/sbin/httpd", "-f", "-p", "80", "-h", WWW, 0 };
	static char *inetd[] = { "/usr/sbin/inetd", "-f", "/etc/inetd.conf", 0 };
	static char *sshd[] = { "/usr/bin/ash", "/etc/skiff/sshd", 0 };
	char host[65], ip[128];
	int ret;

	ret = link_up("lo");
	if (ret < 0)
		fail("init: lo up", ret);
	if (!path_exists("/sys/class/net/eth0"))
		return;
	if (plain_param(cmdline, "hostname=", host, sizeof(host)) && host[0]) {
		/* the length first: a call inside my_syscall2's arguments clobbers its registers */
		long len = strlen(host);

		ret = my_syscall2(__NR_sethostname, host, len);
		if (ret < 0)
			fail("init: sethostname", ret);
	}
	ret = link_up("eth0");
	if (ret < 0)
		fail("init: eth0 up", ret);
	if (!plain_param(cmdline, "ip=", ip, sizeof(ip)))
		say("eth0 has no address: boot with ip=dhcp", "");
	if (read_small("/proc/sys/kernel/hostname", host, sizeof(host)) <= 0)
		concat3(host, sizeof(host), "skiff", "", "");
	for (ret = 0; host[ret] && host[ret] != '\n'; ret++)
		;
	host[ret] = 0;
	write_page(host);
	spawn_daemon(httpd, envp);
	spawn_daemon(inetd, envp);
	spawn_daemon(sshd, envp);
	say("eth0 up, http on 80, echo on 7, ssh on 22, host ", host);
}

static int spawn_shell(const char *run, char **envp)
{
	char *argv_run[] = { "sh", "-c", (char *)run, "-i", 0 };
	char *argv_plain[] = { "sh", 0 };
	int pid = sys_fork();

	if (pid == 0) {
		int ret = sys_execve(SHELL, run ? argv_run : argv_plain, envp);

		fail(SHELL, ret);
		sys_exit(127);
	}
	if (pid < 0)
		fail("fork", pid);
	return pid;
}

int main(int argc, char **argv, char **envp)
{
	static char cmdline[4096], run[1024];
	static char *env[] = { "PATH=/bin:/usr/bin:/usr/sbin", "HOME=/", "TERM=vt100", 0 };
	int has_run, shell, status;
	u32 sec, centi, spawned, ihi, ilo;

	/* the kernel opened /dev/console from the initramfs for us; if that failed, try again once
	 * devtmpfs is there */
	mount_or_warn("devtmpfs", "/dev", "devtmpfs");
	if (sys_write(1, "", 0) < 0) {
		int fd = sys_open("/dev/console", O_RDWR, 0);

		if (fd >= 0) {
			sys_dup2(fd, 0);
			sys_dup2(fd, 1);
			sys_dup2(fd, 2);
			if (fd > 2)
				sys_close(fd);
		}
	}
	mount_or_warn("proc", "/proc", "proc");
	mount_or_warn("sysfs", "/sys", "sysfs");
	mount_or_warn("tmpfs", "/tmp", "tmpfs");

	now_sec(&sec, &centi);
	read_instret(&ihi, &ilo);
	out_str("init: started at ");
	out_u32(sec);
	out_chr('.');
	out_u32(centi / 10);
	out_u32(centi % 10);
	out_str(" s, instret ");
	out_u64(ihi, ilo);
	out_nl();

	if (path_exists("/dev/vda")) {
		int ret = sys_mount("/dev/vda", "/data", "ext2", 0, 0);

		if (ret < 0)
			fail("init: mount /dev/vda on /data", ret);
		else
			say("/dev/vda mounted on /data", "");
	} else {
		say("no /dev/vda, /data is not persistent", "");
	}

	if (read_small("/proc/cmdline", cmdline, sizeof(cmdline)) < 0)
		cmdline[0] = 0;
	start_network(cmdline, env);
	has_run = run_param(cmdline, run, sizeof(run));
	if (has_run)
		say("skiff.run: ", run);

	shell = spawn_shell(has_run ? run : 0, env);
	spawned = now_ms();
	for (;;) {
		int pid = wait_child(-1, 0, &status);

		if (pid < 0) {
			/* no children at all: only possible if the fork failed */
			sleep_ms(1000);
		} else if (pid != shell) {
			continue; /* an orphan we adopted */
		}
		/* The shell ended (exit, crash): start a fresh one; slow down if it keeps dying. */
		if (now_ms() - spawned < 1000)
			sleep_ms(1000);
		shell = spawn_shell(0, env);
		spawned = now_ms();
	}
}
