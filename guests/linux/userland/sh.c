/* SPDX-License-Identifier: MIT */
/*
 * /bin/sh: the Skiff guest's tiny shell. Builtins, plus programs found by $PATH (BusyBox's applets
 * live in /usr/bin and /usr/sbin), one line at a time; `;` separates commands, a trailing `&` runs
 * a command in a child process, '...' and "..." keep blanks and ';' inside one word.
 *
 *   sh              interactive: prompt "skiff# " on the console
 *   sh -c <cmds>    run <cmds> and exit with the last status
 *   sh -c <cmds> -i run <cmds>, then go interactive (how /init runs skiff.run=)
 */
#include "skiff.h"
#include "workload.h"

#define PROMPT "skiff# "
#define MAX_ARGS 32
#define LINE_MAX 1024

struct builtin {
	const char *name;
	int (*run)(int argc, char **argv, int background);
	const char *help;
	/* optional: runs in the shell itself before a background command forks */
	int (*prepare)(int argc, char **argv);
};

static const struct builtin builtins[];

/* ---- file commands ---------------------------------------------------------------------------- */

static int cmd_echo(int argc, char **argv, int background)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (i > 1)
			out_chr(' ');
		out_str(argv[i]);
	}
	out_nl();
	return 0;
}

static int cat_fd(int fd)
{
	char buf[4096];
	ssize_t n;

	while ((n = sys_read(fd, buf, sizeof(buf))) > 0)
		out_mem(buf, n);
	out_flush();
	return n < 0 ? n : 0;
}

static int cmd_cat(int argc, char **argv, int background)
{
	int i, status = 0;

	if (argc < 2) {
		usage("cat <file>...");
		return 2;
	}
	for (i = 1; i < argc; i++) {
		int fd = sys_open(argv[i], O_RDONLY, 0), ret;

		if (fd < 0) {
			fail(argv[i], fd);
			status = 1;
			continue;
		}
		ret = cat_fd(fd);
		sys_close(fd);
		if (ret < 0) {
			fail(argv[i], ret);
			status = 1;
		}
	}
	return status;
}

static int name_cmp(const char *a, const char *b) { return strcmp(a, b); }

/* ls [<path>]: names one per line, sorted, directories with a trailing '/'. */
static int cmd_ls(int argc, char **argv, int background)
{
	static char dents[8192];
	static char names[16384];
	static char *sorted[1024];
	const char *path = argc > 1 ? argv[1] : ".";
	int fd, count = 0, used = 0, i, j, truncated = 0;
	long n;

	if (argc > 2) {
		usage("ls [<path>]");
		return 2;
	}
	fd = sys_open(path, O_RDONLY | O_DIRECTORY, 0);
	if (fd == -ENOTDIR) {
		/* a file: print its name like ls does */
		out_str(path);
		out_nl();
		return 0;
	}
	if (fd < 0) {
		fail(path, fd);
		return 1;
	}
	while ((n = sys_getdents64(fd, (struct linux_dirent64 *)dents, sizeof(dents))) > 0) {
		long off = 0;

		while (off < n) {
			struct linux_dirent64 *d = (struct linux_dirent64 *)(dents + off);
			int len = strlen(d->d_name);

			off += d->d_reclen;
			if (str_eq(d->d_name, ".") || str_eq(d->d_name, ".."))
				continue;
			if (count == (int)(sizeof(sorted) / sizeof(sorted[0])) ||
			    used + len + 2 > (int)sizeof(names)) {
				truncated = 1;
				continue;
			}
			sorted[count] = names + used;
			memcpy(names + used, d->d_name, len);
			used += len;
			if (d->d_type == DT_DIR)
				names[used++] = '/';
			names[used++] = 0;
			/* insertion sort: directories here have at most a few hundred entries */
			for (i = count++; i > 0 && name_cmp(sorted[i - 1], sorted[i]) > 0; i--) {
				char *t = sorted[i];

				sorted[i] = sorted[i - 1];
				sorted[i - 1] = t;
			}
		}
	}
	sys_close(fd);
	for (j = 0; j < count; j++) {
		out_str(sorted[j]);
		out_chr('\n');
	}
	out_flush();
	if (n < 0) {
		fail(path, n);
		return 1;
	}
	if (truncated)
		fail("ls: listing truncated", -E2BIG);
	return 0;
}

/* write <file> <text>...: replaces <file> with the words joined by spaces and a newline. */
static int cmd_write(int argc, char **argv, int background)
{
	int fd, i, ret = 0;

	if (argc < 2) {
		usage("write <file> <text>...");
		return 2;
	}
	fd = sys_open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fail(argv[1], fd);
		return 1;
	}
	for (i = 2; i < argc && ret >= 0; i++) {
		ret = sys_write(fd, argv[i], strlen(argv[i]));
		if (ret >= 0)
			ret = sys_write(fd, i + 1 < argc ? " " : "\n", 1);
	}
	if (argc == 2)
		ret = sys_write(fd, "\n", 1);
	if (ret >= 0)
		ret = sys_fsync(fd);
	sys_close(fd);
	if (ret < 0) {
		fail(argv[1], ret);
		return 1;
	}
	return 0;
}

static int cmd_sync(int argc, char **argv, int background)
{
	my_syscall0(__NR_sync);
	return 0;
}

static int cmd_mount(int argc, char **argv, int background)
{
	int ret;

	if (argc == 1) {
		int fd = sys_open("/proc/mounts", O_RDONLY, 0);

		if (fd < 0) {
			fail("/proc/mounts", fd);
			return 1;
		}
		cat_fd(fd);
		sys_close(fd);
		return 0;
	}
	if (argc < 3 || argc > 4) {
		usage("mount [<device> <dir> [<type, default ext2>]]");
		return 2;
	}
	ret = sys_mount(argv[1], argv[2], argc == 4 ? argv[3] : "ext2", 0, 0);
	if (ret < 0) {
		fail("mount", ret);
		return 1;
	}
	return 0;
}

static int cmd_umount(int argc, char **argv, int background)
{
	int ret;

	if (argc != 2) {
		usage("umount <dir>");
		return 2;
	}
	ret = sys_umount2(argv[1], 0);
	if (ret < 0) {
		fail("umount", ret);
		return 1;
	}
	return 0;
}

/* ---- system information ------------------------------------------------------------------- */

/* ps: PID, parent, state and command line of every process, from /proc. */
static int cmd_ps(int argc, char **argv, int background)
{
	static char dents[4096];
	char path[64], stat[512], cmdline[256];
	int fd;
	long n;

	fd = sys_open("/proc", O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0) {
		fail("/proc", fd);
		return 1;
	}
	out_str("  PID  PPID S COMMAND\n");
	while ((n = sys_getdents64(fd, (struct linux_dirent64 *)dents, sizeof(dents))) > 0) {
		long off = 0;

		while (off < n) {
			struct linux_dirent64 *d = (struct linux_dirent64 *)(dents + off);
			char *open_paren, *close_paren, *p, state;
			u32 pid, ppid = 0;
			int len, i;

			off += d->d_reclen;
			if (!parse_u32(d->d_name, &pid))
				continue;
			concat3(path, sizeof(path), "/proc/", d->d_name, "/stat");
			/* format: pid (comm) state ppid ...; comm may itself contain spaces and ')' */
			if (read_small(path, stat, sizeof(stat)) <= 0)
				continue; /* exited meanwhile */
			open_paren = strchr(stat, '(');
			close_paren = strrchr(stat, ')');
			if (!open_paren || !close_paren || close_paren[1] != ' ')
				continue;
			*close_paren = 0;
			p = close_paren + 2;
			state = *p;
			for (i = 0; p[i] && p[i] != ' '; i++)
				;
			for (p += i; *p == ' '; p++)
				;
			while (*p >= '0' && *p <= '9')
				ppid = ppid * 10 + (*p++ - '0');
			concat3(path, sizeof(path), "/proc/", d->d_name, "/cmdline");
			len = read_small(path, cmdline, sizeof(cmdline));
			for (i = 0; i < len - 1; i++)
				if (!cmdline[i])
					cmdline[i] = ' ';
			out_u32w(pid, 5);
			out_chr(' ');
			out_u32w(ppid, 5);
			out_chr(' ');
			out_chr(state);
			out_chr(' ');
			if (len > 0) {
				out_str(cmdline);
			} else {
				/* kernel threads have no command line */
				out_chr('[');
				out_str(open_paren + 1);
				out_chr(']');
			}
			out_chr('\n');
		}
	}
	sys_close(fd);
	out_flush();
	return 0;
}

/* Copies the first space-separated field of s into out (at most size-1 chars). */
static void first_field(const char *s, char *out, int size)
{
	int i = 0;

	while (s[i] && s[i] != ' ' && s[i] != '\n' && i < size - 1) {
		out[i] = s[i];
		i++;
	}
	out[i] = 0;
}

static int cmd_uptime(int argc, char **argv, int background)
{
	char up[64], load[64], field[24];
	u32 sec, centi;

	if (read_small("/proc/uptime", up, sizeof(up)) <= 0) {
		/* /proc not mounted: the clock still answers */
		now_sec(&sec, &centi);
		out_str("up ");
		out_u32(sec);
		out_str(" s");
		out_nl();
		return 0;
	}
	first_field(up, field, sizeof(field));
	out_str("up ");
	out_str(field);
	out_str(" s");
	if (read_small("/proc/loadavg", load, sizeof(load)) > 0) {
		char *p = load;
		int i;

		out_str(", load");
		for (i = 0; i < 3; i++) {
			first_field(p, field, sizeof(field));
			out_chr(' ');
			out_str(field);
			p += strlen(field);
			while (*p == ' ')
				p++;
		}
	}
	out_nl();
	return 0;
}

/* Value in kB of a /proc/meminfo key, or 0. */
static u32 meminfo(const char *text, const char *key)
{
	const char *p = text;
	int klen = strlen(key);
	u32 v = 0;

	while (p && *p) {
		if (!strncmp(p, key, klen) && p[klen] == ':') {
			p += klen + 1;
			while (*p == ' ')
				p++;
			while (*p >= '0' && *p <= '9')
				v = v * 10 + (*p++ - '0');
			return v;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return 0;
}

static int cmd_free(int argc, char **argv, int background)
{
	static char text[2048];
	u32 total, free_kb, avail;

	if (read_small("/proc/meminfo", text, sizeof(text)) <= 0) {
		fail("/proc/meminfo", -ENOENT);
		return 1;
	}
	total = meminfo(text, "MemTotal");
	free_kb = meminfo(text, "MemFree");
	avail = meminfo(text, "MemAvailable");
	out_str("KiB        total       used       free  available\n");
	out_str("Mem:  ");
	out_u32w(total, 11);
	out_u32w(total - free_kb, 11);
	out_u32w(free_kb, 11);
	out_u32w(avail, 11);
	out_nl();
	return 0;
}

/* instret: retired instructions since the hart started, for boot measurements (see read_instret). */
static int cmd_instret(int argc, char **argv, int background)
{
	u32 hi, lo;

	read_instret(&hi, &lo);
	out_str("instret ");
	out_u64(hi, lo);
	out_nl();
	return 0;
}

/* ---- processes and power ------------------------------------------------------------------ */

static int cmd_sleep(int argc, char **argv, int background)
{
	u32 ms;

	if (argc != 2 || !parse_seconds_ms(argv[1], &ms)) {
		usage("sleep <seconds, e.g. 2 or 0.5>");
		return 2;
	}
	sleep_ms(ms);
	return 0;
}

static int cmd_kill(int argc, char **argv, int background)
{
	u32 pid, sig = 15;
	int i = 1, ret;

	if (argc == 3 && argv[1][0] == '-' && parse_u32(argv[1] + 1, &sig))
		i = 2;
	if (argc != i + 1 || !parse_u32(argv[i], &pid)) {
		usage("kill [-<signal>] <pid>");
		return 2;
	}
	ret = sys_kill(pid, sig);
	if (ret < 0) {
		fail("kill", ret);
		return 1;
	}
	return 0;
}

/* poweroff / reboot: flush and unmount /data so the ext2 image is clean, then reboot(2). The
 * kernel ends the machine through the SBI SRST extension. */
static int power(int cmd)
{
	my_syscall0(__NR_sync);
	sys_umount2("/data", 0);
	my_syscall0(__NR_sync);
	fail(cmd == LINUX_REBOOT_CMD_POWER_OFF ? "poweroff" : "reboot", sys_reboot(
		LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, cmd, 0));
	return 1;
}

static int cmd_poweroff(int argc, char **argv, int background)
{
	return power(LINUX_REBOOT_CMD_POWER_OFF);
}

static int cmd_reboot(int argc, char **argv, int background) { return power(LINUX_REBOOT_CMD_RESTART); }

static int exit_requested;

static int cmd_exit(int argc, char **argv, int background)
{
	exit_requested = 1;
	return 0;
}

static int cmd_help(int argc, char **argv, int background)
{
	const struct builtin *b;

	for (b = builtins; b->name; b++) {
		out_str(b->help);
		out_chr('\n');
	}
	out_flush();
	return 0;
}

static const struct builtin builtins[] = {
	{ "echo", cmd_echo, "echo <text>...", 0 },
	{ "cat", cmd_cat, "cat <file>...", 0 },
	{ "ls", cmd_ls, "ls [<path>]", 0 },
	{ "write", cmd_write, "write <file> <text>...   replace <file> with <text>", 0 },
	{ "sync", cmd_sync, "sync", 0 },
	{ "mount", cmd_mount, "mount [<device> <dir> [<type>]]", 0 },
	{ "umount", cmd_umount, "umount <dir>", 0 },
	{ "ps", cmd_ps, "ps", 0 },
	{ "uptime", cmd_uptime, "uptime", 0 },
	{ "free", cmd_free, "free", 0 },
	{ "sleep", cmd_sleep, "sleep <seconds>", 0 },
	{ "kill", cmd_kill, "kill [-<signal>] <pid>", 0 },
	{ "dirty", cmd_dirty, "dirty <MiB> <MiB/s> [<seconds>] | dirty stop | dirty lose <page>", dirty_prepare },
	{ "counter", cmd_counter, "counter [<lines>]   print `counter <n> <checksum> <sweep>:<page> ok`", 0 },
	{ "instret", cmd_instret, "instret   retired instructions since boot", 0 },
	{ "poweroff", cmd_poweroff, "poweroff", 0 },
	{ "reboot", cmd_reboot, "reboot", 0 },
	{ "exit", cmd_exit, "exit", 0 },
	{ "help", cmd_help, "help", 0 },
	{ 0, 0, 0, 0 },
};

/* ---- command execution -------------------------------------------------------------------- */

static char **shell_envp;

/* Where a command word that is not a builtin is looked up: $PATH, or this when it is unset. */
#define DEFAULT_PATH "/bin:/usr/bin:/usr/sbin"

static const char *search_path(void)
{
	char **e;

	for (e = shell_envp; e && *e; e++)
		if (!strncmp(*e, "PATH=", 5))
			return *e + 5;
	return DEFAULT_PATH;
}

/* Finds the program a command word names: the word itself if it has a '/', else the first
 * <dir>/<word> of $PATH that exists. Returns 0 if there is none. */
static int resolve(const char *word, char *out, int size)
{
	const char *dir = search_path();

	if (strchr(word, '/')) {
		concat3(out, size, word, "", "");
		return path_exists(out);
	}
	while (*dir) {
		char d[128];
		int n = 0;

		while (*dir && *dir != ':') {
			if (n < (int)sizeof(d) - 1)
				d[n++] = *dir;
			dir++;
		}
		d[n] = 0;
		if (*dir == ':')
			dir++;
		if (n && concat3(out, size, d, "/", word) && path_exists(out))
			return 1;
	}
	return 0;
}

static int run_external(char **argv)
{
	char path[256];

	if (!resolve(argv[0], path, sizeof(path)))
		return -ENOENT;
	return sys_execve(path, argv, shell_envp);
}

/* Reports background commands that ended. */
static void reap(void)
{
	int status, pid;

	while ((pid = wait_child(-1, 1, &status)) > 0) {
		out_chr('[');
		out_i32(pid);
		out_str("] done, status ");
		out_i32(status);
		out_nl();
	}
}

static int run_command(int argc, char **argv, int background)
{
	const struct builtin *b;
	int pid, status = 0;

	for (b = builtins; b->name; b++)
		if (str_eq(argv[0], b->name))
			break;
	if (!b->name) {
		char path[256];

		if (!resolve(argv[0], path, sizeof(path))) {
			fail(argv[0], -ENOENT);
			return 127;
		}
	}
	if (b->name && !background)
		return b->run(argc, argv, 0);
	if (b->name && b->prepare) {
		int ret = b->prepare(argc, argv);

		if (ret)
			return ret;
	}

	pid = sys_fork();
	if (pid < 0) {
		fail("fork", pid);
		return 1;
	}
	if (pid == 0) {
		int ret = b->name ? b->run(argc, argv, background) : run_external(argv);

		out_flush();
		if (!b->name)
			fail(argv[0], ret);
		sys_exit(b->name ? ret : 126);
	}
	if (background) {
		out_chr('[');
		out_i32(pid);
		out_chr(']');
		out_nl();
		return 0;
	}
	if (wait_child(pid, 0, &status) < 0)
		return 1;
	return status;
}

/* Splits one command (no ';') into words and runs it. */
static int run_simple(char *cmd)
{
	char *argv[MAX_ARGS + 1];
	int argc = 0, background = 0;
	char *p = cmd;
	int len;

	len = strlen(cmd);
	while (len > 0 && (cmd[len - 1] == ' ' || cmd[len - 1] == '\t'))
		cmd[--len] = 0;
	if (len > 0 && cmd[len - 1] == '&') {
		background = 1;
		cmd[--len] = 0;
	}
	while (*p) {
		char quote = 0, *w;

		while (*p == ' ' || *p == '\t')
			*p++ = 0;
		if (!*p)
			break;
		if (argc == MAX_ARGS) {
			fail(cmd, -E2BIG);
			return 2;
		}
		/* a word ends at a blank outside quotes; the quotes themselves are dropped in place */
		argv[argc++] = w = p;
		for (; *p && (quote || (*p != ' ' && *p != '\t')); p++) {
			if (*p == quote)
				quote = 0;
			else if (!quote && (*p == '"' || *p == '\''))
				quote = *p;
			else
				*w++ = *p;
		}
		if (*p)
			*p++ = 0;
		*w = 0;
	}
	argv[argc] = 0;
	if (argc == 0)
		return 0;
	return run_command(argc, argv, background);
}

/* The first c in s outside '...' and "...", or 0. */
static char *unquoted(char *s, char c)
{
	char quote = 0;

	for (; *s; s++) {
		if (*s == quote)
			quote = 0;
		else if (!quote && (*s == '"' || *s == '\''))
			quote = *s;
		else if (!quote && *s == c)
			return s;
	}
	return 0;
}

/* Runs a line: commands separated by ';' (outside quotes). Returns the last status. */
static int run_line(char *line)
{
	int status = 0;

	while (line && !exit_requested) {
		char *next = unquoted(line, ';');

		if (next)
			*next++ = 0;
		status = run_simple(line);
		line = next;
	}
	return status;
}

/* Reads one line from the console (canonical mode: the kernel's tty does echo and editing).
 * Returns its length, or -1 at end of input. */
static int read_line(char *line, int size)
{
	int len = 0;

	while (len < size - 1) {
		char c;
		ssize_t n = sys_read(0, &c, 1);

		if (n == -EINTR)
			continue;
		if (n <= 0)
			return len ? len : -1;
		if (c == '\n' || c == '\r')
			break;
		line[len++] = c;
	}
	line[len] = 0;
	return len;
}

static void interactive(void)
{
	static char line[LINE_MAX];

	while (!exit_requested) {
		reap();
		out_str(PROMPT);
		out_flush();
		if (read_line(line, sizeof(line)) < 0)
			break;
		run_line(line);
	}
}

int main(int argc, char **argv, char **envp)
{
	static char cmds[LINE_MAX];
	int status = 0;

	shell_envp = envp;
	if (argc >= 3 && str_eq(argv[1], "-c")) {
		concat3(cmds, sizeof(cmds), argv[2], "", "");
		status = run_line(cmds);
		if (argc >= 4 && str_eq(argv[3], "-i"))
			interactive();
		return status;
	}
	interactive();
	return status;
}
