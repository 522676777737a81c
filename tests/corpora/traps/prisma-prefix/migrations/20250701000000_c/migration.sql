-- AlterTable
ALTER TABLE "traces" ALTER COLUMN "chart_type" SET DEFAULT 'LINE';
CREATE INDEX "traces_chart_type_idx" ON "traces"("chart_type");
