CREATE OR REPLACE VIEW "traces_view" AS SELECT "id", "name", "timestamp" FROM "traces";
