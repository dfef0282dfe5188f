/* SPDX-License-Identifier: MIT */
/*
 * Atomic replacement and locks: a writer killed at random moments leaves
 * the old file or the new one, never a mix; a second holder of a lock waits
 * for the first.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/fileio.h"
#include "unit.h"

#define BIG (4u * 1024u * 1024u)

START_TEST(test_killed_writer_leaves_old_or_new)
{
	char dir[] = "/tmp/rxmpp-fileio-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[128], why[256];
	snprintf(path, sizeof(path), "%s/state", dir);
	char *a = malloc(BIG), *b = malloc(BIG);
	memset(a, 'a', BIG);
	memset(b, 'b', BIG);
	ck_assert_int_eq(fileio_write_atomic(path, a, BIG, 0600, why, sizeof(why)), 0);
	for (int round = 0; round < 20; round++) {
		pid_t pid = fork();
		if (pid == 0) {
			for (int i = 0;; i++)
				fileio_write_atomic(path, i % 2 ? a : b, BIG, 0600, why,
						    sizeof(why));
		}
		struct timespec pause = {0, 1000000L * (1 + round % 7)};
		nanosleep(&pause, NULL);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		char *text;
		size_t len;
		ck_assert_int_eq(fileio_read_all(path, 2 * BIG, &text, &len, why, sizeof(why)), 0);
		ck_assert_uint_eq(len, BIG);
		ck_assert_msg(memcmp(text, a, BIG) == 0 || memcmp(text, b, BIG) == 0,
			      "round %d: a mix of old and new", round);
		free(text);
	}
	free(a);
	free(b);
	char command[160];
	snprintf(command, sizeof(command), "rm -rf %s", dir);
	ck_assert_int_eq(system(command), 0);
}
END_TEST

START_TEST(test_lock_waits_for_the_holder)
{
	char dir[] = "/tmp/rxmpp-lock-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[128], order[128], why[256];
	snprintf(path, sizeof(path), "%s/file", dir);
	snprintf(order, sizeof(order), "%s/order", dir);
	int ready[2];
	ck_assert_int_eq(pipe(ready), 0);
	pid_t pid = fork();
	if (pid == 0) {
		int lock = fileio_lock(path, why, sizeof(why));
		ck_assert_int_eq(write(ready[1], "x", 1), 1);
		struct timespec pause = {0, 200000000L};
		nanosleep(&pause, NULL);
		FILE *f = fopen(order, "a");
		fputs("holder\n", f);
		fclose(f);
		close(lock);
		_exit(0);
	}
	char c;
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	int lock = fileio_lock(path, why, sizeof(why));
	ck_assert_int_ne(lock, -1);
	FILE *f = fopen(order, "a");
	fputs("waiter\n", f);
	fclose(f);
	close(lock);
	waitpid(pid, NULL, 0);
	char *text;
	size_t len;
	ck_assert_int_eq(fileio_read_all(order, 1024, &text, &len, why, sizeof(why)), 0);
	ck_assert_str_eq(text, "holder\nwaiter\n");
	free(text);
	char command[160];
	snprintf(command, sizeof(command), "rm -rf %s", dir);
	ck_assert_int_eq(system(command), 0);
}
END_TEST

/* Whatever sits at the temporary name (a file left by a crashed writer of
 * the same pid, a link planted by someone else) is not written through. */
START_TEST(test_temporary_file_is_new)
{
	char dir[] = "/tmp/rxmpp-excl-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[128], planted[192], target[160], link[192], why[256];
	snprintf(path, sizeof(path), "%s/state", dir);
	snprintf(target, sizeof(target), "%s/target", dir);
	snprintf(planted, sizeof(planted), "%s.tmp.%ld.0", path, (long)getpid());
	snprintf(link, sizeof(link), "%s.tmp.%ld.1", path, (long)getpid());
	FILE *f = fopen(planted, "w");
	fputs("planted", f);
	fclose(f);
	f = fopen(target, "w");
	fputs("target", f);
	fclose(f);
	ck_assert_int_eq(symlink(target, link), 0);
	ck_assert_int_eq(fileio_write_atomic(path, "new", 3, 0600, why, sizeof(why)), 0);
	char *text;
	size_t len;
	ck_assert_int_eq(fileio_read_all(path, 64, &text, &len, why, sizeof(why)), 0);
	ck_assert_str_eq(text, "new");
	free(text);
	ck_assert_int_eq(fileio_read_all(planted, 64, &text, &len, why, sizeof(why)), 0);
	ck_assert_str_eq(text, "planted");
	free(text);
	ck_assert_int_eq(fileio_read_all(target, 64, &text, &len, why, sizeof(why)), 0);
	ck_assert_str_eq(text, "target");
	free(text);
	char command[160];
	snprintf(command, sizeof(command), "rm -rf %s", dir);
	ck_assert_int_eq(system(command), 0);
}
END_TEST

/* A folder that cannot be flushed after the rename (here: one its writer
 * may not read, so it cannot be opened) fails the write, so that nothing
 * that depends on the file is sent.  Run as root, the writer is a child
 * that becomes nobody, as root may open any folder. */
START_TEST(test_folder_not_flushed_fails)
{
	char dir[] = "/tmp/rxmpp-dirsync-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/state", dir);
	uid_t writer = geteuid() == 0 ? 65534 : geteuid();
	ck_assert_int_eq(chown(dir, writer, writer == geteuid() ? getegid() : 65534), 0);
	ck_assert_int_eq(chmod(dir, 0300), 0);
	pid_t pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		char why[512];
		if (geteuid() == 0 && (setgid(65534) == -1 || setuid(65534) == -1))
			_exit(3);
		int rc = fileio_write_atomic(path, "new", 3, 0600, why, sizeof(why));
		if (rc == 0)
			_exit(1);
		_exit(strstr(why, "flushing its folder") != NULL ? 0 : 2);
	}
	int status = 0;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_msg(WEXITSTATUS(status) == 0,
		      "exit %d: 1 = the write was reported done, 2 = the reason does not say "
		      "the folder, 3 = could not become nobody",
		      WEXITSTATUS(status));
	ck_assert_int_eq(chmod(dir, 0700), 0);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* The seal: the kind, the version and a checksum over all before it. */
START_TEST(test_seal_round_trip_and_damage)
{
	char dir[] = "/tmp/rxmpp-seal-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[128], why[512];
	snprintf(path, sizeof(path), "%s/thing", dir);
	ck_assert_int_eq(
	    fileio_write_sealed(path, "thing", 3, "a 1\nb 2\n", 8, 0600, why, sizeof(why)), 0);
	char *text;
	size_t len, start, body_len;
	unsigned version;
	ck_assert_int_eq(fileio_read_all(path, 4096, &text, &len, why, sizeof(why)), 0);
	ck_assert_int_eq(
	    fileio_unseal(path, text, len, "thing", &version, &start, &body_len, why, sizeof(why)),
	    FILEIO_SEALED);
	ck_assert_uint_eq(version, 3);
	ck_assert_uint_eq(body_len, 8);
	ck_assert_int_eq(memcmp(text + start, "a 1\nb 2\n", 8), 0);
	/* Another kind, a changed byte, a NUL, and text without any seal. */
	ck_assert_int_eq(
	    fileio_unseal(path, text, len, "other", &version, &start, &body_len, why, sizeof(why)),
	    FILEIO_SEAL_BROKEN);
	text[14] = '3';
	ck_assert_int_eq(
	    fileio_unseal(path, text, len, "thing", &version, &start, &body_len, why, sizeof(why)),
	    FILEIO_SEAL_BROKEN);
	ck_assert_ptr_nonnull(strstr(why, "checksum mismatch"));
	text[14] = '\0';
	ck_assert_int_eq(
	    fileio_unseal(path, text, len, "thing", &version, &start, &body_len, why, sizeof(why)),
	    FILEIO_SEAL_BROKEN);
	free(text);
	ck_assert_int_eq(
	    fileio_unseal(path, "a 1\n", 4, "thing", &version, &start, &body_len, why, sizeof(why)),
	    FILEIO_UNSEALED);
	unlink(path);
	rmdir(dir);
}
END_TEST

Suite *fileio_suite(void)
{
	Suite *s = suite_create("fileio");
	TCase *tc = tcase_create("fileio");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_killed_writer_leaves_old_or_new);
	tcase_add_test(tc, test_lock_waits_for_the_holder);
	tcase_add_test(tc, test_temporary_file_is_new);
	tcase_add_test(tc, test_folder_not_flushed_fails);
	tcase_add_test(tc, test_seal_round_trip_and_damage);
	suite_add_tcase(s, tc);
	return s;
}
