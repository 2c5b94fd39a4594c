/* pgscale 0.1.0 -> 0.2.0 */

\echo Use "ALTER EXTENSION pgscale UPDATE TO '0.2.0'" to load this file. \quit

--
-- A fresh CREATE EXTENSION pgscale installs 0.1.0 and runs this script, so
-- every change of 0.2.0 lives here once; sql/upgrade.sql checks that an
-- updated install has exactly the objects of a fresh one.
--
