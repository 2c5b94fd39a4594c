/*-------------------------------------------------------------------------
 *
 * loopback.c
 *	  A libpq connection back to this server, for the statements that
 *	  cannot run through SPI or inside a transaction block: CREATE INDEX
 *	  CONCURRENTLY (the conversion's extend_keys), ALTER TABLE ... DETACH
 *	  PARTITION ... CONCURRENTLY (partition retention) and VACUUM (after a
 *	  purge).  They run as top-level statements of a second session, over
 *	  this server's own Unix socket, as this session's user with the
 *	  caller's current role set: the same privileges are checked there as
 *	  here.  This backend waits for them holding no snapshot (the
 *	  concurrent forms wait for every transaction that could see the
 *	  table, this one included), and its cancellation and termination are
 *	  passed on to the statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/postmaster.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/varlena.h"

#include "pgscale.h"
#include "loopback.h"

/* pgs_loop_start_all sends the statements of a pipeline */
#ifndef LIBPQ_HAS_PIPELINING
#error "pgscale needs the libpq of PostgreSQL 14 or later (pipeline mode)"
#endif

/*
 * loop_wait
 *		Sleep until conn's socket is ready for events or the latch is set,
 *		then serve interrupts: the caller's cancel and termination work
 *		while the other session works.
 */
static void
loop_wait(PGconn *conn, int events)
{
	(void) WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | events,
							 PQsocket(conn), -1L, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

/*
 * loop_cancel
 *		Ask the server to cancel what conn is running; used when the caller
 *		is cancelled while it waits.
 */
static void
loop_cancel(PGconn *conn)
{
	PGcancel   *cancel = PQgetCancel(conn);
	char		errbuf[256];

	if (cancel != NULL)
	{
		(void) PQcancel(cancel, errbuf, sizeof(errbuf));
		PQfreeCancel(cancel);
	}
}

/* a statement libpq could not queue or send over conn */
static void
loop_send_failed(PGconn *conn)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("could not send a statement over the loopback connection: %s",
					pchomp(PQerrorMessage(conn))),
			 errhint("Check the server log, and run the call again.")));
}

/* send what libpq holds for conn, serving interrupts meanwhile */
static void
loop_flush(PGconn *conn)
{
	PG_TRY();
	{
		while (PQflush(conn) == 1)
			loop_wait(conn, WL_SOCKET_WRITEABLE | WL_SOCKET_READABLE);
	}
	PG_CATCH();
	{
		loop_cancel(conn);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* wait until a result of conn can be read without blocking */
static void
loop_await(PGconn *conn)
{
	PG_TRY();
	{
		while (PQisBusy(conn))
		{
			loop_wait(conn, WL_SOCKET_READABLE);
			if (!PQconsumeInput(conn))
				break;
		}
	}
	PG_CATCH();
	{
		loop_cancel(conn);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/*
 * loop_send
 *		Send sql with its text parameters over conn and flush it.
 */
static void
loop_send(PGconn *conn, const char *sql, int nparams, const char *const *params)
{
	if (!PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0))
		loop_send_failed(conn);
	loop_flush(conn);
}

/*
 * loop_collect
 *		Wait for the statement sent over conn to end, serving this
 *		session's interrupts (a cancel is passed on); its last result.
 */
static PGresult *
loop_collect(PGconn *conn)
{
	PGresult   *volatile last = NULL;

	PG_TRY();
	{
		for (;;)
		{
			PGresult   *res;

			loop_await(conn);
			res = PQgetResult(conn);
			if (res == NULL)
				break;
			PQclear(last);
			last = res;
			if (PQstatus(conn) == CONNECTION_BAD)
				break;
		}
	}
	PG_CATCH();
	{
		loop_cancel(conn);
		PQclear(last);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (last == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("lost the loopback connection: %s", pchomp(PQerrorMessage(conn))),
				 errhint("Check the server log, and run the call again.")));
	return last;
}

/*
 * pgs_loop_exec
 *		Run sql with its text parameters over conn and return its last
 *		result (the caller clears it).  This session must hold no snapshot.
 */
PGresult *
pgs_loop_exec(PGconn *conn, const char *sql, int nparams, const char *const *params)
{
	/* this session must not hold a snapshot the other one would wait for */
	InvalidateCatalogSnapshot();
	if (TransactionIdIsValid(MyProc->xmin))
		elog(ERROR, "pgscale: a snapshot is still held before a statement over the loopback connection");

	loop_send(conn, sql, nparams, params);
	return loop_collect(conn);
}

/*
 * pgs_loop_connect_start
 *		Start opening the loopback connection (see pgs_loop_connect) and
 *		return at once, the startup packet sent if the socket takes it, so
 *		that the server starts the other session while this one works:
 *		pgs_loop_connect_finish completes it.  NULL, with *failure filled
 *		in, when the server listens on no Unix socket.
 */
PGconn *
pgs_loop_connect_start(const char *appname, PgsLoopFailure *failure)
{
	const char *keywords[7];
	const char *values[7];
	char	   *dirs = pstrdup(GetConfigOption("unix_socket_directories", false, false));
	List	   *dirlist = NIL;
	PGconn	   *conn;

	failure->user = GetUserNameFromId(GetSessionUserId(), false);
	failure->role = GetUserNameFromId(GetUserId(), false);
	failure->dbname = get_database_name(MyDatabaseId);
	failure->socket_dir = NULL;
	failure->message = NULL;
	if (!SplitDirectoriesString(dirs, ',', &dirlist) || dirlist == NIL)
	{
		failure->stage = PGS_LOOP_NO_SOCKET;
		return NULL;
	}
	failure->socket_dir = (const char *) linitial(dirlist);

	keywords[0] = "host";
	values[0] = failure->socket_dir;
	keywords[1] = "port";
	values[1] = psprintf("%d", PostPortNumber);
	keywords[2] = "dbname";
	values[2] = failure->dbname;
	keywords[3] = "user";
	values[3] = failure->user;
	keywords[4] = "application_name";
	values[4] = appname;
	keywords[5] = "sslmode";
	values[5] = "disable";
	keywords[6] = NULL;
	values[6] = NULL;

	conn = PQconnectStartParams(keywords, values, false);
	if (conn == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errhint("Run the call again when the server has more memory free.")));

	/* once the socket is writable (a Unix socket is, at once), say hello */
	if (PQstatus(conn) != CONNECTION_BAD &&
		(WaitLatchOrSocket(NULL, WL_SOCKET_WRITEABLE | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						   PQsocket(conn), 0L, PG_WAIT_EXTENSION) & WL_SOCKET_WRITEABLE))
		(void) PQconnectPoll(conn);
	return conn;
}

/*
 * pgs_loop_connect_finish
 *		Complete a connection pgs_loop_connect_start started: wait for the
 *		server, then set the caller's current role, pgscale.lock_timeout,
 *		and the settings pgs_pin_search_path() pins.  NULL, the connection
 *		closed and *failure filled in, when it cannot be made.  This
 *		session must hold no snapshot.
 */
PGconn *
pgs_loop_connect_finish(PGconn *start, PgsLoopFailure *failure)
{
	PGconn	   *volatile conn = start;
	const char *settings[2];
	PGresult   *res;
	volatile PostgresPollingStatusType status = PGRES_POLLING_WRITING;

	if (conn == NULL)
		return NULL;
	PG_TRY();
	{
		while (PQstatus(conn) != CONNECTION_BAD &&
			   status != PGRES_POLLING_OK && status != PGRES_POLLING_FAILED)
		{
			loop_wait(conn, status == PGRES_POLLING_READING ?
					  WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE);
			status = PQconnectPoll(conn);
		}
		if (PQstatus(conn) != CONNECTION_OK)
		{
			failure->stage = PGS_LOOP_CONNECT;
			failure->message = pchomp(PQerrorMessage(conn));
			PQfinish(conn);
			conn = NULL;
		}
		else
		{
			settings[0] = failure->role;
			settings[1] = psprintf("%dms", pgscale_lock_timeout);
			res = pgs_loop_exec(conn,
								"SELECT pg_catalog.set_config('role', $1, false),"
								" pg_catalog.set_config('lock_timeout', $2, false),"
								" pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', false),"
								" pg_catalog.set_config('datestyle', 'ISO, MDY', false),"
								" pg_catalog.set_config('intervalstyle', 'postgres', false),"
								" pg_catalog.set_config('extra_float_digits', '1', false)",
								2, settings);
			if (PQresultStatus(res) != PGRES_TUPLES_OK)
			{
				failure->stage = PGS_LOOP_SETUP;
				failure->message = pchomp(PQresultErrorMessage(res));
				PQclear(res);
				PQfinish(conn);
				conn = NULL;
			}
			else
				PQclear(res);
		}
	}
	PG_CATCH();
	{
		if (conn != NULL)
			PQfinish(conn);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return conn;
}

/*
 * pgs_loop_connect
 *		Open the loopback connection: this server's first Unix socket
 *		directory and port, this database, the session user, then the
 *		caller's current role, pgscale.lock_timeout, and the settings
 *		pgs_pin_search_path() pins, so that statements built here read the
 *		same over there.  appname is the connection's application_name.
 *		NULL, with *failure filled in for the caller's message, when the
 *		connection cannot be made.
 */
PGconn *
pgs_loop_connect(const char *appname, PgsLoopFailure *failure)
{
	return pgs_loop_connect_finish(pgs_loop_connect_start(appname, failure), failure);
}

/*
 * loop_outcome
 *		True when res (cleared here) is a success, else false with its
 *		error in *err.
 */
static bool
loop_outcome(PGconn *conn, PGresult *res, PgsLoopError *err)
{
	ExecStatusType st = PQresultStatus(res);
	const char *state;
	const char *field;

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
	{
		PQclear(res);
		return true;
	}
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	err->code = (state != NULL && strlen(state) == 5) ?
		MAKE_SQLSTATE(state[0], state[1], state[2], state[3], state[4]) :
		ERRCODE_CONNECTION_FAILURE;
	field = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	err->message = field ? pstrdup(field) : pchomp(PQerrorMessage(conn));
	field = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	err->detail = field ? pstrdup(field) : NULL;
	field = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
	err->hint = field ? pstrdup(field) : NULL;
	PQclear(res);
	return false;
}

/*
 * pgs_loop_run
 *		Run one statement over conn; true when it succeeded, else false with
 *		its error in *err.
 */
bool
pgs_loop_run(PGconn *conn, const char *sql, PgsLoopError *err)
{
	return loop_outcome(conn, pgs_loop_exec(conn, sql, 0, NULL), err);
}

/*
 * pgs_loop_start
 *		Start one statement over conn and return at once, for this session
 *		to work meanwhile; pgs_loop_end waits for it.  The statement must
 *		be one that never waits for this session's locks or snapshots
 *		(VACUUM of a relation this session leaves alone until then): unlike
 *		pgs_loop_run, this session may take snapshots while it runs.
 *		Nothing else may be sent over conn before pgs_loop_end.
 */
void
pgs_loop_start(PGconn *conn, const char *sql)
{
	InvalidateCatalogSnapshot();
	if (TransactionIdIsValid(MyProc->xmin))
		elog(ERROR, "pgscale: a snapshot is still held before a statement over the loopback connection");
	loop_send(conn, sql, 0, NULL);
}

/*
 * pgs_loop_end
 *		Wait for the statement pgs_loop_start sent; as pgs_loop_run.
 */
bool
pgs_loop_end(PGconn *conn, PgsLoopError *err)
{
	return loop_outcome(conn, loop_collect(conn), err);
}

/*
 * pgs_loop_start_all
 *		Send the statements of sqls over conn in one pipeline and return at
 *		once, for this session to work while the server runs them one after
 *		the other, each in a transaction of its own (a Sync after each), so
 *		that statements which cannot run inside a transaction block, such
 *		as DETACH PARTITION ... CONCURRENTLY, can be among them; one that
 *		fails does not stop the others.  pgs_loop_end_all waits for them.
 *		The statements must never wait for this session's snapshots, nor
 *		for its locks but while it works on towards a commit.  Nothing else
 *		may be sent over conn before pgs_loop_end_all.
 */
void
pgs_loop_start_all(PGconn *conn, List *sqls)
{
	ListCell   *lc;

	InvalidateCatalogSnapshot();
	if (TransactionIdIsValid(MyProc->xmin))
		elog(ERROR, "pgscale: a snapshot is still held before a statement over the loopback connection");
	if (!PQenterPipelineMode(conn))
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not start a pipeline over the loopback connection: %s",
						pchomp(PQerrorMessage(conn))),
				 errhint("Check the server log, and run the call again.")));
	foreach(lc, sqls)
	{
		if (!PQsendQueryParams(conn, (const char *) lfirst(lc), 0, NULL, NULL,
							   NULL, NULL, 0) ||
			!PQpipelineSync(conn))
			loop_send_failed(conn);
	}
	loop_flush(conn);
}

/*
 * loop_next
 *		The next result of the pipeline on conn, waiting for it (NULL ends
 *		one statement's results); an error when the connection is lost.
 */
static PGresult *
loop_next(PGconn *conn)
{
	PGresult   *res;

	loop_await(conn);
	res = PQgetResult(conn);
	if (res == NULL && PQstatus(conn) == CONNECTION_BAD)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("lost the loopback connection: %s", pchomp(PQerrorMessage(conn))),
				 errhint("Check the server log, and run the call again.")));
	return res;
}

/*
 * pgs_loop_end_all
 *		Wait for the n statements pgs_loop_start_all sent: ok[i] says
 *		whether the i-th succeeded; when it did not, errs[i] holds its
 *		error.  The connection is back to one statement at a time.
 */
void
pgs_loop_end_all(PGconn *conn, int n, bool *ok, PgsLoopError *errs)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		PGresult   *last = NULL;
		int			nulls = 0;

		/* the statement's results, up to its Sync */
		for (;;)
		{
			PGresult   *res = loop_next(conn);

			if (res == NULL)
			{
				/* one ends each statement; more would be a lost pipeline */
				if (++nulls > 1)
					ereport(ERROR,
							(errcode(ERRCODE_CONNECTION_FAILURE),
							 errmsg("lost track of the pipeline over the loopback connection"),
							 errhint("Check the server log, and run the call again.")));
				continue;
			}
			nulls = 0;
			if (PQresultStatus(res) == PGRES_PIPELINE_SYNC)
			{
				PQclear(res);
				break;
			}
			PQclear(last);
			last = res;
		}
		memset(&errs[i], 0, sizeof(PgsLoopError));
		if (last == NULL)
		{
			ok[i] = false;
			errs[i].code = ERRCODE_CONNECTION_FAILURE;
			errs[i].message = pstrdup("no result");
		}
		else
			ok[i] = loop_outcome(conn, last, &errs[i]);
	}
	if (!PQexitPipelineMode(conn))
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not end the pipeline over the loopback connection: %s",
						pchomp(PQerrorMessage(conn))),
				 errhint("Check the server log, and run the call again.")));
}

/*
 * pgs_loop_finish
 *		Close the connection (NULL is fine), cancelling first what it still
 *		runs (a statement pgs_loop_start sent, when an error came between),
 *		so that it does not run on after the caller has given up.
 */
void
pgs_loop_finish(PGconn *conn)
{
	if (conn == NULL)
		return;
	if (PQtransactionStatus(conn) == PQTRANS_ACTIVE)
		loop_cancel(conn);
	PQfinish(conn);
}
