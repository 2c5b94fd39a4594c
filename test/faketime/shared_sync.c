/*-------------------------------------------------------------------------
 *
 * shared_sync.c
 *	  Create (or remove) the semaphore and shared memory object through
 *	  which libfaketime's processes share their state, open to every user.
 *
 *	  Each process that loads libfaketime makes a pair of its own, readable
 *	  by its user alone, unless the environment (FAKETIME_SHARED) names one;
 *	  the children inherit that name.  A test run forks processes as root
 *	  and as postgres, so a postgres process cannot open its root parent's
 *	  pair, makes its own and may collide with a stale one left by a killed
 *	  process of the same pid: libfaketime then exits, and the test with it.
 *	  The test runner makes one pair for the whole run with this program,
 *	  names it in FAKETIME_SHARED and removes it at the end.
 *
 *	  Usage: shared_sync create|remove SEM_NAME SHM_NAME
 *
 *-------------------------------------------------------------------------
 */
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	sem_t	   *sem;
	int			fd;

	if (argc != 4)
	{
		fprintf(stderr, "usage: %s create|remove SEM_NAME SHM_NAME\n", argv[0]);
		return 2;
	}
	if (strcmp(argv[1], "remove") == 0)
	{
		sem_unlink(argv[2]);
		shm_unlink(argv[3]);
		return 0;
	}
	umask(0);
	sem = sem_open(argv[2], O_CREAT | O_EXCL, 0666, 1);
	if (sem == SEM_FAILED)
	{
		perror("sem_open");
		return 1;
	}
	sem_close(sem);
	fd = shm_open(argv[3], O_CREAT | O_EXCL | O_RDWR, 0666);
	if (fd < 0 || ftruncate(fd, 4096) != 0)
	{
		perror("shm_open");
		sem_unlink(argv[2]);
		return 1;
	}
	close(fd);
	return 0;
}
