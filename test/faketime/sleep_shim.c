/*-------------------------------------------------------------------------
 *
 * sleep_shim.c
 *	  A preload library that goes in front of libfaketime when the test
 *	  runner fakes the clock (test/run_tests.sh --date).
 *
 *	  libfaketime wraps the calls that sleep (select, poll, epoll_wait,
 *	  nanosleep...) and, while the real call sleeps, stops faking the time.
 *	  A process forked by a signal handler that interrupted such a call
 *	  inherits that state and sees the real clock for the rest of its life.
 *	  PostgreSQL 15's postmaster forks the walwriter, the autovacuum
 *	  launcher and every background worker from its signal handlers, while
 *	  it sleeps in select(): those processes would run on the real date
 *	  while the backends run on the faked one.
 *
 *	  With a fixed clock offset (all the runner uses) a sleep needs no
 *	  faking, so these calls go straight to the kernel and libfaketime never
 *	  sees them.  Built by pgs_fake_clock (test/lib.sh) outside the tree.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* select(2) as pselect6 with no signal mask; updates *timeout like Linux. */
int
select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *timeout)
{
	struct timespec ts;
	int			rc;

	if (timeout == NULL)
		return syscall(SYS_pselect6, nfds, r, w, e, NULL, NULL);
	ts.tv_sec = timeout->tv_sec;
	ts.tv_nsec = timeout->tv_usec * 1000;
	rc = syscall(SYS_pselect6, nfds, r, w, e, &ts, NULL);
	timeout->tv_sec = ts.tv_sec;
	timeout->tv_usec = ts.tv_nsec / 1000;
	return rc;
}

int
poll(struct pollfd *fds, nfds_t nfds, int timeout_ms)
{
	struct timespec ts;

	if (timeout_ms < 0)
		return syscall(SYS_ppoll, fds, nfds, NULL, NULL, (size_t) 8);
	ts.tv_sec = timeout_ms / 1000;
	ts.tv_nsec = (long) (timeout_ms % 1000) * 1000000;
	return syscall(SYS_ppoll, fds, nfds, &ts, NULL, (size_t) 8);
}

int
epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout_ms)
{
	return syscall(SYS_epoll_pwait, epfd, events, maxevents, timeout_ms,
				   NULL, (size_t) 8);
}

int
nanosleep(const struct timespec *req, struct timespec *rem)
{
	return syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, req, rem);
}

int
usleep(useconds_t usec)
{
	struct timespec ts;

	ts.tv_sec = usec / 1000000;
	ts.tv_nsec = (long) (usec % 1000000) * 1000;
	return nanosleep(&ts, NULL);
}

unsigned int
sleep(unsigned int seconds)
{
	struct timespec ts = {seconds, 0};

	if (nanosleep(&ts, &ts) < 0)
		return (unsigned int) ts.tv_sec;
	return 0;
}

int
pselect(int nfds, fd_set *r, fd_set *w, fd_set *e,
		const struct timespec *timeout, const sigset_t *sigmask)
{
	struct timespec ts;
	struct
	{
		const sigset_t *ss;
		size_t		len;
	}			mask = {sigmask, 8};

	if (timeout)
		ts = *timeout;
	return syscall(SYS_pselect6, nfds, r, w, e, timeout ? &ts : NULL,
				   sigmask ? &mask : NULL);
}

int
ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *timeout,
	  const sigset_t *sigmask)
{
	struct timespec ts;

	if (timeout)
		ts = *timeout;
	return syscall(SYS_ppoll, fds, nfds, timeout ? &ts : NULL, sigmask,
				   (size_t) 8);
}

int
epoll_pwait(int epfd, struct epoll_event *events, int maxevents,
			int timeout_ms, const sigset_t *sigmask)
{
	return syscall(SYS_epoll_pwait, epfd, events, maxevents, timeout_ms,
				   sigmask, (size_t) 8);
}
