import type { Builder, Dataquery } from '@grafana/grafana-foundation-sdk/cog';
import type { DataSourceRef } from '@grafana/grafana-foundation-sdk/common';

/**
 * The uid under which deploy/grafana/provisioning/datasources/clickhouse.yaml provisions the
 * store; every panel and variable names it, so the dashboards work on any Grafana that loads
 * that file.
 */
export const CLICKHOUSE_DATASOURCE: DataSourceRef = { type: 'grafana-clickhouse-datasource', uid: 'keywatch-clickhouse' };

/**
 * Output shape the plugin's backend gives the rows: the query's `format` is decoded as the
 * plugin SDK's sqlutil.FormatQueryOption (grafana-plugin-sdk-go data/sqlutil: 0 time series,
 * which turns long rows into one series per label value, 1 table, 2 logs, 3 trace).
 */
export const QUERY_FORMAT = { timeSeries: 0, table: 1 } as const;
export type QueryFormat = keyof typeof QUERY_FORMAT;

/**
 * One raw-SQL query of the grafana-clickhouse-datasource plugin (v4 query model:
 * `editorType: 'sql'`, `rawSql`, `format`, `queryType`). The SDK has no type for this
 * third-party plugin, so it is declared here as a Dataquery variant, as the SDK README shows
 * for custom query types.
 */
export interface ClickHouseSqlQuery extends Dataquery {
  refId: string;
  datasource: DataSourceRef;
  editorType: 'sql';
  rawSql: string;
  format: (typeof QUERY_FORMAT)[QueryFormat];
  /** Which editor layout the plugin opens (QueryType in src/types/queryBuilder.ts, v4). */
  queryType: 'table' | 'timeseries';
}

export class ClickHouseSqlQueryBuilder implements Builder<Dataquery> {
  private readonly internal: ClickHouseSqlQuery;

  constructor(rawSql: string, format: QueryFormat = 'table') {
    this.internal = {
      refId: 'A',
      datasource: CLICKHOUSE_DATASOURCE,
      editorType: 'sql',
      rawSql,
      format: QUERY_FORMAT[format],
      queryType: format === 'timeSeries' ? 'timeseries' : 'table',
      _implementsDataqueryVariant() {},
    };
  }

  refId(refId: string): this {
    this.internal.refId = refId;
    return this;
  }

  build(): ClickHouseSqlQuery {
    return this.internal;
  }
}
