-- CreateEnum
CREATE TYPE "ChartType" AS ENUM ('LINE', 'BAR', 'PIVOT');

-- AlterTable
ALTER TABLE "traces" ADD COLUMN "chart_type" "ChartType";
