/*-------------------------------------------------------------------------
 *
 * loopback.h
 *	  loopback.c: a libpq connection back to this server, for the
 *	  statements that must run at top level in a session of their own
 *	  (CREATE INDEX CONCURRENTLY, DETACH PARTITION CONCURRENTLY, VACUUM).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGSCALE_LOOPBACK_H
#define PGSCALE_LOOPBACK_H

#include "postgres.h"

#include "libpq-fe.h"
#include "nodes/pg_list.h"

/* where opening the connection failed */
typedef enum PgsLoopStage
{
	PGS_LOOP_NO_SOCKET,			/* the server listens on no Unix socket */
	PGS_LOOP_CONNECT,			/* the connection was refused */
	PGS_LOOP_SETUP				/* the role or settings could not be set */
} PgsLoopStage;

/* why pgs_loop_connect() returned NULL, for the caller's own message */
typedef struct PgsLoopFailure
{
	PgsLoopStage stage;
	char	   *message;		/* libpq's or the server's text */
	const char *user;			/* the session user it connects as */
	const char *role;			/* the role it sets */
	const char *dbname;
	const char *socket_dir;
} PgsLoopFailure;

/* a statement's error over the connection, in pieces */
typedef struct PgsLoopError
{
	int			code;
	char	   *message;
	char	   *detail;
	char	   *hint;
} PgsLoopError;

extern PGconn *pgs_loop_connect_start(const char *appname, PgsLoopFailure *failure);
extern PGconn *pgs_loop_connect_finish(PGconn *start, PgsLoopFailure *failure);
extern PGconn *pgs_loop_connect(const char *appname, PgsLoopFailure *failure);
extern PGresult *pgs_loop_exec(PGconn *conn, const char *sql, int nparams,
							   const char *const *params);
extern bool pgs_loop_run(PGconn *conn, const char *sql, PgsLoopError *err);
extern void pgs_loop_start(PGconn *conn, const char *sql);
extern bool pgs_loop_end(PGconn *conn, PgsLoopError *err);
extern void pgs_loop_start_all(PGconn *conn, List *sqls);
extern void pgs_loop_end_all(PGconn *conn, int n, bool *ok, PgsLoopError *errs);
extern void pgs_loop_finish(PGconn *conn);

#endif							/* PGSCALE_LOOPBACK_H */
