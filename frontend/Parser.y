%%
start: ;
%%
