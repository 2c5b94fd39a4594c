/*-------------------------------------------------------------------------
 *
 * spi.h
 *	  spi.c: the one SPI layer, running statements and reading results.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGSCALE_SPI_H
#define PGSCALE_SPI_H

#include "postgres.h"

/* running statements; any SPI failure is an error */
extern void pgs_spi_exec(const char *sql);
extern void pgs_spi_execf(const char *fmt,...) pg_attribute_printf(1, 2);
extern void pgs_spi_query(const char *sql, int nargs, Oid *argtypes,
						  Datum *values, const char *nulls);
extern int64 pgs_spi_int8(const char *sql, int nargs, Oid *argtypes,
						  Datum *values, const char *nulls, bool read_only);
extern int64 pgs_spi_int8_oid(const char *sql, Oid relid);
extern char *pgs_spi_text_oid(const char *sql, Oid arg);

/* pgscale's own tables, written as the extension owner */
extern uint64 pgs_exec_as_owner(const char *sql, int nargs, Oid *argtypes,
								Datum *values, const char *nulls);
extern int64 pgs_spi_int8_as_owner(const char *sql, int nargs, Oid *argtypes,
								   Datum *values, const char *nulls);

/* column "col" (1-based) of row "row" of the last result */
extern Datum pgs_get_datum(int row, int col, bool *isnull);
extern bool pgs_isnull(int row, int col);
extern int64 pgs_get_int8(int row, int col);
extern int32 pgs_get_int4(int row, int col);
extern double pgs_get_float8(int row, int col);
extern bool pgs_get_bool(int row, int col);
extern Oid	pgs_get_oid(int row, int col);
extern char *pgs_get_text(int row, int col);

/* settings pinned while pgscale runs SQL built from catalog definitions */
extern int	pgs_pin_output_settings(void);
extern int	pgs_pin_search_path(void);
extern void pgs_unpin_settings(int nest);

#endif							/* PGSCALE_SPI_H */
