import { z } from 'zod';

/** One evaluated expectation, in the shape Great Expectations users know. */
export const expectationResultSchema = z.object({
  expectation: z.string(),
  kwargs: z.record(z.string(), z.unknown()),
  success: z.boolean(),
  result: z.object({
    element_count: z.number(),
    unexpected_count: z.number(),
    unexpected_percent: z.number(),
    /** A few offending rows: 1-based data line number (header excluded) and the offending values. */
    partial_unexpected_list: z.array(z.record(z.string(), z.unknown())),
  }),
});
export type ExpectationResult = z.infer<typeof expectationResultSchema>;

export const validationReportSchema = z.object({
  table: z.string(),
  source: z.string(),
  success: z.boolean(),
  evaluated_at: z.string(),
  statistics: z.object({
    evaluated_expectations: z.number(),
    successful_expectations: z.number(),
    unsuccessful_expectations: z.number(),
    success_percent: z.number(),
  }),
  results: z.array(expectationResultSchema),
});
export type ValidationReport = z.infer<typeof validationReportSchema>;
