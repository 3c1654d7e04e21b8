
�c
{service_name="svc-0"}�
��Ϫline 5 of 0
http_status_code500
user_idu-0

_1st-1
duration_ms
123456.789
cachedtrue
blobBf8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regioneu
pid1000
	k8s_readytrue�
��Ϫline 5 of 3
http_status_code500
user_idu-0

_1st-1
duration_ms
123456.789
cachedtrue
blobBf8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regionus
pid1003
	k8s_readyfalse
tenantteam-b�
��Ϫ
line 10 of 0,
trace_id 0002030405060708090a0b0c0d0e0f0a
span_id010203040506070a
severity_textWARN
http_status_code404
user_idu-0	
_1st4
duration_ms-2.25
cachedfalse
blobCv8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regioneu
pid1000
	k8s_readytrue�
��Ϫ
line 10 of 3,
trace_id 0302030405060708090a0b0c0d0e0f0a
span_id010203040506070a
severity_textWARN
http_status_code404
user_idu-0	
_1st4
duration_ms-2.25
cachedfalse
blobCv8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regionus
pid1003
	k8s_readyfalse
tenantteam-b�
��Ϫ���line 0 of 0,
trace_id 0002030405060708090a0b0c0d0e0f00
span_id0102030405060700
severity_textINFO
http_status_code200
user_idu-0

_1st-6
duration_ms0
cachedfalse
blobAP8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
ctx{"k":"v<&>","n":1}
tags["a",2]�
big�xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
regioneu
pid1000
	k8s_readytrue�
��Ϫ���line 0 of 3,
trace_id 0302030405060708090a0b0c0d0e0f00
span_id0102030405060700
severity_textINFO
http_status_code200
user_idu-0

_1st-6
duration_ms0
cachedfalse
blobAP8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
ctx{"k":"v<&>","n":1}
tags["a",2]�
big�xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
regionus
pid1003
	k8s_readyfalse
tenantteam-b�
��Ϫ8,
trace_id 0002030405060708090a0b0c0d0e0f08
span_id0102030405060708
severity_textINFO
http_status_code500
user_idu-3	
_1st2
duration_ms1e+21
cachedfalse
blobCP8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
ctx{"k":"v<&>","n":1}
tags["a",2]
regioneu
pid1000
	k8s_readytrue�
��Ϫ8,
trace_id 0302030405060708090a0b0c0d0e0f08
span_id0102030405060708
severity_textINFO
http_status_code500
user_idu-3	
_1st2
duration_ms1e+21
cachedfalse
blobCP8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
ctx{"k":"v<&>","n":1}
tags["a",2]
regionus
pid1003
	k8s_readyfalse
tenantteam-b�	
��Ϫ�éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé,
trace_id 0002030405060708090a0b0c0d0e0f06
span_id0102030405060706
severity_textWARN
http_status_code200
user_idu-1	
_1st0
duration_ms0
cachedfalse
blobBv8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c�
big�xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
regioneu
pid1000
	k8s_readytrue�	
��Ϫ�éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé,
trace_id 0302030405060708090a0b0c0d0e0f06
span_id0102030405060706
severity_textWARN
http_status_code200
user_idu-1	
_1st0
duration_ms0
cachedfalse
blobBv8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c�
big�xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
regionus
pid1003
	k8s_readyfalse
tenantteam-b�
��Ϫ�éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé
severity_textERROR

http_status_code500
user_idu-1	
_1st5
duration_ms
123456.789
cachedtrue
blobC/8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regioneu
pid1000
	k8s_readytrue�
��Ϫ�éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé
severity_textERROR

http_status_code500
user_idu-1	
_1st5
duration_ms
123456.789
cachedtrue
blobC/8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regionus
pid1003
	k8s_readyfalse
tenantteam-b�
��Ϫ,
trace_id 0002030405060708090a0b0c0d0e0f04
span_id0102030405060704
severity_textINFO
http_status_code404
user_idu-4

_1st-2
duration_ms-2.25
cachedfalse
blobBP8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
ctx{"k":"v<&>","n":1}
tags["a",2]
regioneu
pid1000
	k8s_readytrue�
��Ϫ,
trace_id 0302030405060708090a0b0c0d0e0f04
span_id0102030405060704
severity_textINFO
http_status_code404
user_idu-4

_1st-2
duration_ms-2.25
cachedfalse
blobBP8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
ctx{"k":"v<&>","n":1}
tags["a",2]
regionus
pid1003
	k8s_readyfalse
tenantteam-b�
��Ϫ	
http_status_code200
user_idu-4	
_1st3
duration_ms1e-7
cachedtrue
blobCf8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c�
big�xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
regioneu
pid1000
	k8s_readytrue�
��Ϫ	
http_status_code200
user_idu-4	
_1st3
duration_ms1e-7
cachedtrue
blobCf8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c�
big�xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
regionus
pid1003
	k8s_readyfalse
tenantteam-b�
��Ϫ{"msg":"hello \"world\"","n":7}
severity_textERROR

http_status_code404
user_idu-2	
_1st1
duration_ms1.5
cachedtrue
blobB/8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regioneu
pid1000
	k8s_readytrue�
��Ϫ{"msg":"hello \"world\"","n":7}
severity_textERROR

http_status_code404
user_idu-2	
_1st1
duration_ms1.5
cachedtrue
blobB/8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regionus
pid1003
	k8s_readyfalse
tenantteam-b�
��Ϫ�éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé
http_status_code404
user_idu-1

_1st-5
duration_ms1.5
cachedtrue
blobAf8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regioneu
pid1000
	k8s_readytrue�
��Ϫ3
severity_textERROR

http_status_code200
user_idu-3

_1st-3
duration_ms1e-7
cachedtrue
blobA/8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c�
big�xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
regioneu
pid1000
	k8s_readytrue�
��Ϫ�éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé
http_status_code404
user_idu-1

_1st-5
duration_ms1.5
cachedtrue
blobAf8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regionus
pid1003
	k8s_readyfalse
tenantteam-b�
��Ϫ3
severity_textERROR

http_status_code200
user_idu-3

_1st-3
duration_ms1e-7
cachedtrue
blobA/8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c�
big�xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
regionus
pid1003
	k8s_readyfalse
tenantteam-b
�d
{service_name="svc-1"}�
��Ϫline 5 of 1
http_status_code500
user_idu-0

_1st-1
duration_ms
123456.789
cachedtrue
blobBf8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regionus
pid1001
	k8s_readyfalse�
��Ϫline 5 of 4
http_status_code500
user_idu-0

_1st-1
duration_ms
123456.789
cachedtrue
blobBf8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regioneu
pid1004
	k8s_readytrue
tenantbad tenant/x�
��Ϫ
line 10 of 1,
trace_id 0102030405060708090a0b0c0d0e0f0a
span_id010203040506070a
severity_textWARN
http_status_code404
user_idu-0	
_1st4
duration_ms-2.25
cachedfalse
blobCv8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regionus
pid1001
	k8s_readyfalse�
��Ϫ
line 10 of 4,
trace_id 0402030405060708090a0b0c0d0e0f0a
span_id010203040506070a
severity_textWARN
http_status_code404
user_idu-0	
_1st4
duration_ms-2.25
cachedfalse
blobCv8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regioneu
pid1004
	k8s_readytrue
tenantbad tenant/x�
��Ϫ���line 0 of 1,
trace_id 0102030405060708090a0b0c0d0e0f00
span_id0102030405060700
severity_textINFO
http_status_code200
user_idu-0

_1st-6
duration_ms0
cachedfalse
blobAP8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
ctx{"k":"v<&>","n":1}
tags["a",2]�
big�xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
regionus
pid1001
	k8s_readyfalse�
��Ϫ���line 0 of 4,
trace_id 0402030405060708090a0b0c0d0e0f00
span_id0102030405060700
severity_textINFO
http_status_code200
user_idu-0

_1st-6
duration_ms0
cachedfalse
blobAP8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
ctx{"k":"v<&>","n":1}
tags["a",2]�
big�xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
regioneu
pid1004
	k8s_readytrue
tenantbad tenant/x�
��Ϫ8,
trace_id 0102030405060708090a0b0c0d0e0f08
span_id0102030405060708
severity_textINFO
http_status_code500
user_idu-3	
_1st2
duration_ms1e+21
cachedfalse
blobCP8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
ctx{"k":"v<&>","n":1}
tags["a",2]
regionus
pid1001
	k8s_readyfalse�
��Ϫ8,
trace_id 0402030405060708090a0b0c0d0e0f08
span_id0102030405060708
severity_textINFO
http_status_code500
user_idu-3	
_1st2
duration_ms1e+21
cachedfalse
blobCP8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
ctx{"k":"v<&>","n":1}
tags["a",2]
regioneu
pid1004
	k8s_readytrue
tenantbad tenant/x�	
��Ϫ�éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé,
trace_id 0102030405060708090a0b0c0d0e0f06
span_id0102030405060706
severity_textWARN
http_status_code200
user_idu-1	
_1st0
duration_ms0
cachedfalse
blobBv8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c�
big�xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
regionus
pid1001
	k8s_readyfalse�	
��Ϫ�éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé,
trace_id 0402030405060708090a0b0c0d0e0f06
span_id0102030405060706
severity_textWARN
http_status_code200
user_idu-1	
_1st0
duration_ms0
cachedfalse
blobBv8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c�
big�xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
regioneu
pid1004
	k8s_readytrue
tenantbad tenant/x�
��Ϫ�éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé
severity_textERROR

http_status_code500
user_idu-1	
_1st5
duration_ms
123456.789
cachedtrue
blobC/8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regionus
pid1001
	k8s_readyfalse�
��Ϫ�éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé
severity_textERROR

http_status_code500
user_idu-1	
_1st5
duration_ms
123456.789
cachedtrue
blobC/8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regioneu
pid1004
	k8s_readytrue
tenantbad tenant/x�
��Ϫ,
trace_id 0102030405060708090a0b0c0d0e0f04
span_id0102030405060704
severity_textINFO
http_status_code404
user_idu-4

_1st-2
duration_ms-2.25
cachedfalse
blobBP8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
ctx{"k":"v<&>","n":1}
tags["a",2]
regionus
pid1001
	k8s_readyfalse�
��Ϫ,
trace_id 0402030405060708090a0b0c0d0e0f04
span_id0102030405060704
severity_textINFO
http_status_code404
user_idu-4

_1st-2
duration_ms-2.25
cachedfalse
blobBP8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
ctx{"k":"v<&>","n":1}
tags["a",2]
regioneu
pid1004
	k8s_readytrue
tenantbad tenant/x�
��Ϫ	
http_status_code200
user_idu-4	
_1st3
duration_ms1e-7
cachedtrue
blobCf8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c�
big�xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
regionus
pid1001
	k8s_readyfalse�
��Ϫ	
http_status_code200
user_idu-4	
_1st3
duration_ms1e-7
cachedtrue
blobCf8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c�
big�xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
regioneu
pid1004
	k8s_readytrue
tenantbad tenant/x�
��Ϫ{"msg":"hello \"world\"","n":7}
severity_textERROR

http_status_code404
user_idu-2	
_1st1
duration_ms1.5
cachedtrue
blobB/8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regionus
pid1001
	k8s_readyfalse�
��Ϫ{"msg":"hello \"world\"","n":7}
severity_textERROR

http_status_code404
user_idu-2	
_1st1
duration_ms1.5
cachedtrue
blobB/8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regioneu
pid1004
	k8s_readytrue
tenantbad tenant/x�
��Ϫ�éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé
http_status_code404
user_idu-1

_1st-5
duration_ms1.5
cachedtrue
blobAf8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regionus
pid1001
	k8s_readyfalse�
��Ϫ3
severity_textERROR

http_status_code200
user_idu-3

_1st-3
duration_ms1e-7
cachedtrue
blobA/8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c�
big�xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
regionus
pid1001
	k8s_readyfalse�
��Ϫ�éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé
http_status_code404
user_idu-1

_1st-5
duration_ms1.5
cachedtrue
blobAf8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regioneu
pid1004
	k8s_readytrue
tenantbad tenant/x�
��Ϫ3
severity_textERROR

http_status_code200
user_idu-3

_1st-3
duration_ms1e-7
cachedtrue
blobA/8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c�
big�xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
regioneu
pid1004
	k8s_readytrue
tenantbad tenant/x
�1
6{service_name="svc-2", service_namespace="shop\ufffd"}�
��Ϫline 5 of 2
http_status_code500
user_idu-0

_1st-1
duration_ms
123456.789
cachedtrue
blobBf8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regioneu
pid1002
	k8s_readytrue�
��Ϫ
line 10 of 2,
trace_id 0202030405060708090a0b0c0d0e0f0a
span_id010203040506070a
severity_textWARN
http_status_code404
user_idu-0	
_1st4
duration_ms-2.25
cachedfalse
blobCv8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regioneu
pid1002
	k8s_readytrue�
��Ϫ���line 0 of 2,
trace_id 0202030405060708090a0b0c0d0e0f00
span_id0102030405060700
severity_textINFO
http_status_code200
user_idu-0

_1st-6
duration_ms0
cachedfalse
blobAP8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
ctx{"k":"v<&>","n":1}
tags["a",2]�
big�xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
regioneu
pid1002
	k8s_readytrue�
��Ϫ8,
trace_id 0202030405060708090a0b0c0d0e0f08
span_id0102030405060708
severity_textINFO
http_status_code500
user_idu-3	
_1st2
duration_ms1e+21
cachedfalse
blobCP8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
ctx{"k":"v<&>","n":1}
tags["a",2]
regioneu
pid1002
	k8s_readytrue�	
��Ϫ�éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé,
trace_id 0202030405060708090a0b0c0d0e0f06
span_id0102030405060706
severity_textWARN
http_status_code200
user_idu-1	
_1st0
duration_ms0
cachedfalse
blobBv8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c�
big�xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
regioneu
pid1002
	k8s_readytrue�
��Ϫ�éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé
severity_textERROR

http_status_code500
user_idu-1	
_1st5
duration_ms
123456.789
cachedtrue
blobC/8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regioneu
pid1002
	k8s_readytrue�
��Ϫ,
trace_id 0202030405060708090a0b0c0d0e0f04
span_id0102030405060704
severity_textINFO
http_status_code404
user_idu-4

_1st-2
duration_ms-2.25
cachedfalse
blobBP8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
ctx{"k":"v<&>","n":1}
tags["a",2]
regioneu
pid1002
	k8s_readytrue�
��Ϫ	
http_status_code200
user_idu-4	
_1st3
duration_ms1e-7
cachedtrue
blobCf8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c�
big�xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
regioneu
pid1002
	k8s_readytrue�
��Ϫ{"msg":"hello \"world\"","n":7}
severity_textERROR

http_status_code404
user_idu-2	
_1st1
duration_ms1.5
cachedtrue
blobB/8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regioneu
pid1002
	k8s_readytrue�
��Ϫ�éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé
http_status_code404
user_idu-1

_1st-5
duration_ms1.5
cachedtrue
blobAf8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regioneu
pid1002
	k8s_readytrue�
��Ϫ3
severity_textERROR

http_status_code200
user_idu-3

_1st-3
duration_ms1e-7
cachedtrue
blobA/8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c�
big�xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
regioneu
pid1002
	k8s_readytrue
�2
{service_name="svc-2"}�
��Ϫline 5 of 5
http_status_code500
user_idu-0

_1st-1
duration_ms
123456.789
cachedtrue
blobBf8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regionus
pid1005
	k8s_readyfalse
tenantteam-a�
��Ϫ
line 10 of 5,
trace_id 0502030405060708090a0b0c0d0e0f0a
span_id010203040506070a
severity_textWARN
http_status_code404
user_idu-0	
_1st4
duration_ms-2.25
cachedfalse
blobCv8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regionus
pid1005
	k8s_readyfalse
tenantteam-a�
��Ϫ���line 0 of 5,
trace_id 0502030405060708090a0b0c0d0e0f00
span_id0102030405060700
severity_textINFO
http_status_code200
user_idu-0

_1st-6
duration_ms0
cachedfalse
blobAP8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
ctx{"k":"v<&>","n":1}
tags["a",2]�
big�xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
regionus
pid1005
	k8s_readyfalse
tenantteam-a�
��Ϫ8,
trace_id 0502030405060708090a0b0c0d0e0f08
span_id0102030405060708
severity_textINFO
http_status_code500
user_idu-3	
_1st2
duration_ms1e+21
cachedfalse
blobCP8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
ctx{"k":"v<&>","n":1}
tags["a",2]
regionus
pid1005
	k8s_readyfalse
tenantteam-a�	
��Ϫ�éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé,
trace_id 0502030405060708090a0b0c0d0e0f06
span_id0102030405060706
severity_textWARN
http_status_code200
user_idu-1	
_1st0
duration_ms0
cachedfalse
blobBv8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c�
big�xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
regionus
pid1005
	k8s_readyfalse
tenantteam-a�
��Ϫ�éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé
severity_textERROR

http_status_code500
user_idu-1	
_1st5
duration_ms
123456.789
cachedtrue
blobC/8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regionus
pid1005
	k8s_readyfalse
tenantteam-a�
��Ϫ,
trace_id 0502030405060708090a0b0c0d0e0f04
span_id0102030405060704
severity_textINFO
http_status_code404
user_idu-4

_1st-2
duration_ms-2.25
cachedfalse
blobBP8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
ctx{"k":"v<&>","n":1}
tags["a",2]
regionus
pid1005
	k8s_readyfalse
tenantteam-a�
��Ϫ	
http_status_code200
user_idu-4	
_1st3
duration_ms1e-7
cachedtrue
blobCf8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c�
big�xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
regionus
pid1005
	k8s_readyfalse
tenantteam-a�
��Ϫ{"msg":"hello \"world\"","n":7}
severity_textERROR

http_status_code404
user_idu-2	
_1st1
duration_ms1.5
cachedtrue
blobB/8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regionus
pid1005
	k8s_readyfalse
tenantteam-a�
��Ϫ�éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé
http_status_code404
user_idu-1

_1st-5
duration_ms1.5
cachedtrue
blobAf8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
regionus
pid1005
	k8s_readyfalse
tenantteam-a�
��Ϫ3
severity_textERROR

http_status_code200
user_idu-3

_1st-3
duration_ms1e-7
cachedtrue
blobA/8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c�
big�xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
regionus
pid1005
	k8s_readyfalse
tenantteam-a