
�
\{cluster="c1", env="prod", http_status_code="200", level="INFO", region="us", user_id="u-0"}�
��Ϫ���line 0 of 5
service_namesvc-2,
trace_id 0502030405060708090a0b0c0d0e0f00
span_id0102030405060700

_1st-6
duration_ms0
cachedfalse
blobAP8=	
nothing
	_reservedx
�
N{cluster="c1", env="prod", http_status_code="404", region="us", user_id="u-1"}�
��Ϫdéééééééééééééééééééééééééééééééééééééééééééééééééé
service_namesvc-2

_1st-5
duration_ms1.5
cachedtrue
blobAf8=	
nothing
	_reservedx
empty
bad_utf8	a�b�c
�
P{cluster="c1", env="prod", http_status_code="200", level="ERROR\n", region="us"}�
��Ϫ3
service_namesvc-2
user_idu-3

_1st-3
duration_ms1e-7
cachedtrue
blobA/8=	
nothing
	_reservedx
empty
�
M{cluster="c1", env="prod", http_status_code="404", level="INFO", region="us"}�
��Ϫ
service_namesvc-2
user_idu-4,
trace_id 0502030405060708090a0b0c0d0e0f04
span_id0102030405060704

_1st-2
duration_ms-2.25
cachedfalse
blobBP8=	
nothing
�
6{cluster="c1", env="prod", region="us", user_id="u-0"}�
��Ϫline 5 of 5
service_namesvc-2
http_status_code500

_1st-1
duration_ms
123456.789
cachedtrue
blobBf8=	
nothing
	_reservedx
empty
�
N{cluster="c1", env="prod", http_status_code="200", region="us", user_id="u-1"}�
��Ϫdéééééééééééééééééééééééééééééééééééééééééééééééééé
service_namesvc-2
levelWARN,
trace_id 0502030405060708090a0b0c0d0e0f06
span_id0102030405060706	
_1st0
duration_ms0
cachedfalse
blobBv8=	
nothing
�
P{cluster="c1", env="prod", http_status_code="404", level="ERROR\n", region="us"}�
��Ϫ{"msg":"hello \"world\"","n":7}
service_namesvc-2
user_idu-2	
_1st1
duration_ms1.5
cachedtrue
blobB/8=	
nothing
	_reservedx
empty
�
5{cluster="c1", env="prod", level="INFO", region="us"}�
��Ϫ8
service_namesvc-2
http_status_code500
user_idu-3,
trace_id 0502030405060708090a0b0c0d0e0f08
span_id0102030405060708	
_1st2
duration_ms1e+21
cachedfalse
blobCP8=
�
?{cluster="c1", env="prod", http_status_code="200", region="us"}�
��Ϫ	
service_namesvc-2
user_idu-4	
_1st3
duration_ms1e-7
cachedtrue
blobCf8=	
nothing
	_reservedx
empty
�
N{cluster="c1", env="prod", http_status_code="404", region="us", user_id="u-0"}�
��Ϫ
line 10 of 5
service_namesvc-2
levelWARN,
trace_id 0502030405060708090a0b0c0d0e0f0a
span_id010203040506070a	
_1st4
duration_ms-2.25
cachedfalse
blobCv8=	
nothing
�
G{cluster="c1", env="prod", level="ERROR\n", region="us", user_id="u-1"}�
��Ϫdéééééééééééééééééééééééééééééééééééééééééééééééééé
service_namesvc-2
http_status_code500	
_1st5
duration_ms
123456.789
cachedtrue
blobC/8=	
nothing
	_reservedx
empty