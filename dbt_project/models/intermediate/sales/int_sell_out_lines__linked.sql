-- Grain: one row per distributor sell-out line (sell_out_line_id), converted to bottles and
-- litres and linked to a CRM account through its distributor customer code
-- (account_id null when the customer is not linked: a prospect or a queue item).
with

lines as (

    select * from {{ ref('int_sell_out_lines__converted') }}

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
