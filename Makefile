# pgscale: plain PGXS build.  Point PG_CONFIG at another installation to
# build for another PostgreSQL major version.

# The source tree, also when building out of tree (VPATH, as pg_buildext does).
TOP := $(dir $(abspath $(lastword $(MAKEFILE_LIST))))

EXTENSION = pgscale
MODULE_big = pgscale
OBJS = $(patsubst $(TOP)%.c,%.o,$(sort $(wildcard $(TOP)src/*.c)))
DATA = $(patsubst $(TOP)%,%,$(wildcard $(TOP)sql/pgscale--*.sql))
PGFILEDESC = "pgscale - retention and partitioning for time-series tables"

# the unique indexes of extend_keys are built over a loopback libpq
# connection (CREATE INDEX CONCURRENTLY cannot run through SPI), as
# contrib/dblink and postgres_fdw link it
PG_CPPFLAGS = -I$(libpq_srcdir)
SHLIB_LINK_INTERNAL = $(libpq)

# pg_regress suite: sql/<name>.sql, expected/<name>.out
REGRESS = $(sort $(filter-out pgscale--%,$(notdir $(basename $(wildcard $(TOP)sql/*.sql)))))
REGRESS_OPTS = --inputdir=.

# isolation suite: test/specs/<name>.spec, test/expected/<name>.out
ISOLATION = $(sort $(notdir $(basename $(wildcard $(TOP)test/specs/*.spec))))
ISOLATION_OPTS = --inputdir=test --outputdir=output_iso

# TAP suite on PostgreSQL::Test::Cluster
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

EXTRA_CLEAN = output_iso

# WERROR=1 (the test run sets it) turns every warning into an error.
ifdef WERROR
# (-Wno-unused-parameter: the server headers themselves have unused parameters)
PG_CFLAGS += -Wall -Wextra -Werror -Wno-unused-parameter
endif

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# out of tree, the object files need their directory
ifdef VPATH
$(shell mkdir -p src)
endif


# PGXS tracks no header dependencies: rebuild everything when one changes
$(OBJS): $(wildcard $(TOP)src/*.h)
