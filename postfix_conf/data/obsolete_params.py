"""Legacy parameters (spec section 6; the deprecation list of postconf 3.9, src/postconf/postconf_unused.c).
Postfix 3.7 still knows them and says nothing; 3.9+ warns "support for parameter X will be removed".
name<TAB>replacement parameter (empty: leave at default)<TAB>advice

Kept as Python source (not a package data file) so that it is read only when first
needed and travels wherever the library does (Ansible ships only .py files).
"""

TEXT = r"""disable_dns_lookups	smtp_dns_support_level	disable_dns_lookups = yes means smtp_dns_support_level = disabled
lmtp_use_tls	lmtp_tls_security_level	yes means lmtp_tls_security_level = may
lmtp_enforce_tls	lmtp_tls_security_level	yes means lmtp_tls_security_level = encrypt
lmtp_tls_per_site	lmtp_tls_policy_maps	the policy table has a different format
postscreen_use_tls	postscreen_tls_security_level	yes means postscreen_tls_security_level = may
postscreen_enforce_tls	postscreen_tls_security_level	yes means postscreen_tls_security_level = encrypt
smtp_use_tls	smtp_tls_security_level	yes means smtp_tls_security_level = may
smtp_enforce_tls	smtp_tls_security_level	yes means smtp_tls_security_level = encrypt
smtp_tls_per_site	smtp_tls_policy_maps	the policy table has a different format
smtpd_use_tls	smtpd_tls_security_level	yes means smtpd_tls_security_level = may, no means none
smtpd_enforce_tls	smtpd_tls_security_level	yes means smtpd_tls_security_level = encrypt (which also implies smtpd_tls_auth_only = yes)
smtpd_tls_dh1024_param_file		leave it at its default
smtpd_tls_eecdh_grade		leave it at its default
tlsproxy_client_use_tls	tlsproxy_client_security_level	yes means tlsproxy_client_security_level = may
tlsproxy_client_enforce_tls	tlsproxy_client_security_level	yes means tlsproxy_client_security_level = encrypt
tlsproxy_client_per_site	tlsproxy_client_policy_maps	the policy table has a different format
tlsproxy_use_tls	tlsproxy_tls_security_level	yes means tlsproxy_tls_security_level = may
tlsproxy_enforce_tls	tlsproxy_tls_security_level	yes means tlsproxy_tls_security_level = encrypt
"""
