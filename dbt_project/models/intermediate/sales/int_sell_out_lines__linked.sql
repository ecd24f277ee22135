-- Grain: one row per distributor sell-out line (sell_out_line_id), converted to bottles and
-- litres and linked to a CRM account through its distributor customer code
-- (account_id null when the customer is not linked: a prospect or a queue item).
--
-- Incremental (the largest table of a night: every sell-out line of the history). A night
-- that receives one day of files converts and links those files' lines, not the history;
-- a stored line is rewritten only when what it depends on changed (macros/
-- incremental_sell_out.sql keeps that state in int_sell_out_lines__linked__applied):
--   - a file no longer loaded (restated under the same name or period, hence superseded in
--     raw.file_deliveries): its lines are deleted; the restating file's lines are inserted;
--   - a distributor customer code whose crosswalk decision changed (account, method,
--     confidence): its lines are deleted and linked again;
--   - a product code (EAN or SKU) whose product row changed: its lines are converted again;
--   - the conversion vars or the SQL of this model or its parents changed: every line is
--     rebuilt (as `make full-refresh` / the full_refresh job would).
-- Append, not merge: the pre-hook deletes what must go, the model selects what must come.
-- Each build logs the (account_id, sale_month) pairs of the lines it deleted or inserted in
-- int_sell_out_lines__linked__touched, from which int_accounts__market_purchases updates
-- only those pairs (macro sell_out_lines_touched_relation).
-- depends_on: {{ ref('stg_ingestion__file_deliveries') }}
-- depends_on: {{ ref('stg_erp__products') }}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook=[
        "{{ sell_out_lines_save_changes() }}",
        "{{ sell_out_lines_prune() }}",
    ],
    post_hook=[
        "{{ sell_out_lines_log_touched() }}",
        "{{ sell_out_lines_record_state() }}",
    ],
) }}
with

lines as (

    {{ sell_out_lines_to_insert(ref('int_sell_out_lines__converted')) }}

),

links as (

    select * from {{ ref('int_accounts__distributor_links') }}

),

joined as (

    select
        lines.*,
        links.distributor_customer_id,
        links.account_id,
        links.match_method,
        links.match_confidence,
        links.account_id is not null as is_linked
    from lines
    left join links
        on
            lines.distributor_id = links.distributor_id
            and lines.distributor_account_code = links.distributor_account_code

)

select * from joined
