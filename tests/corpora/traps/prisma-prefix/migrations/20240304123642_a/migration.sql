-- CreateTable
CREATE TABLE "traces" (
    "id" TEXT NOT NULL,
    "name" TEXT,
    "timestamp" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "traces_pkey" PRIMARY KEY ("id")
);

CREATE VIEW "traces_view" AS SELECT "id", "name" FROM "traces";
