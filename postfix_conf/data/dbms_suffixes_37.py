"""Legacy database client parameter names of Postfix 3.7.11 (spec section 9 rule 3): a main.cf or master.cf
value naming type:prefix (prefix not a path) makes <prefix>_<suffix> known. Found by asking postconf -n which
<prefix>_<candidate> names it does not call unused, for every candidate string in the postconf binary.
type<TAB>suffix

Kept as Python source (not a package data file) so that it is read only when first
needed and travels wherever the library does (Ansible ships only .py files).
"""

TEXT = r"""ldap	bind
ldap	bind_dn
ldap	bind_pw
ldap	cache
ldap	cache_expiry
ldap	cache_size
ldap	chase_referrals
ldap	debuglevel
ldap	dereference
ldap	domain
ldap	expansion_limit
ldap	leaf_result_attribute
ldap	query_filter
ldap	recursion_limit
ldap	result_attribute
ldap	result_filter
ldap	result_format
ldap	sasl_authz_id
ldap	sasl_mechs
ldap	sasl_minssf
ldap	sasl_realm
ldap	scope
ldap	search_base
ldap	server_host
ldap	server_port
ldap	size_limit
ldap	special_result_attribute
ldap	start_tls
ldap	terminal_result_attribute
ldap	timeout
ldap	tls_ca_cert_dir
ldap	tls_ca_cert_file
ldap	tls_cert
ldap	tls_cipher_suite
ldap	tls_key
ldap	tls_random_file
ldap	tls_require_cert
ldap	version
memcache	backup
memcache	data_size_limit
memcache	domain
memcache	flags
memcache	key_format
memcache	line_size_limit
memcache	max_try
memcache	memcache
memcache	retry_pause
memcache	timeout
memcache	ttl
mysql	additional_conditions
mysql	dbname
mysql	domain
mysql	expansion_limit
mysql	hosts
mysql	option_file
mysql	option_group
mysql	password
mysql	query
mysql	require_result_set
mysql	result_format
mysql	select_field
mysql	table
mysql	tls_CAfile
mysql	tls_CApath
mysql	tls_cert_file
mysql	tls_ciphers
mysql	tls_key_file
mysql	tls_verify_cert
mysql	user
mysql	where_field
pgsql	additional_conditions
pgsql	dbname
pgsql	domain
pgsql	expansion_limit
pgsql	hosts
pgsql	password
pgsql	query
pgsql	result_format
pgsql	select_field
pgsql	select_function
pgsql	table
pgsql	user
pgsql	where_field
sqlite	additional_conditions
sqlite	dbpath
sqlite	domain
sqlite	expansion_limit
sqlite	query
sqlite	result_format
sqlite	select_field
sqlite	table
sqlite	where_field
"""
