-- The sandbox is for test mode only. Live accounts used to start on it (the
-- column's default) and could "collect" money that never existed; they now
-- start on 'none' (no gateway: attaching and charging are refused) until a
-- real gateway is configured. New accounts name their gateway explicitly.
UPDATE accounts SET gateway = 'none', gateway_secret = NULL WHERE livemode = TRUE AND gateway = 'sandbox';
