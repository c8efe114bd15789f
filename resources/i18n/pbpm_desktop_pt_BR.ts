<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="pt_BR">
<context>
    <name>ActionCell</name>
    <message>
        <source>Preload</source>
        <translation>Pré-carregar</translation>
    </message>
    <message>
        <source>Unload</source>
        <translation>Descarregar</translation>
    </message>
    <message>
        <source>Loading…</source>
        <translation>Carregando…</translation>
    </message>
    <message>
        <source>Unloading…</source>
        <translation>Descarregando…</translation>
    </message>
    <message>
        <source>Reload</source>
        <translation>Recarregar</translation>
    </message>
    <message>
        <source>Cloud models run on ollama.com: there is nothing to load here</source>
        <translation>Modelos em nuvem rodam no ollama.com: não há nada a carregar aqui</translation>
    </message>
    <message>
        <source>Refresh its keep-alive</source>
        <translation>Renovar o tempo de permanência</translation>
    </message>
    <message>
        <source>Load it into VRAM now</source>
        <translation>Carregar na VRAM agora</translation>
    </message>
    <message>
        <source>Always-on models stay loaded.</source>
        <translation>Modelos sempre ativos ficam carregados.</translation>
    </message>
    <message>
        <source>Untick it under Always-on models in Settings.</source>
        <translation>Desmarque-o em Modelos sempre ativos, nas Configurações.</translation>
    </message>
    <message>
        <source>Unload once its requests have finished</source>
        <translation>Descarregar quando as requisições dele terminarem</translation>
    </message>
</context>
<context>
    <name>AppController</name>
    <message>
        <source>Demo traffic did not start: {e}</source>
        <extracomment>how often the VRAM snapshot is re-read (events cover changes; this covers NVML and expiry) most seconds a quit waits for the gateway to finish its requests emitted once everything is stopped; carries the exit code</extracomment>
        <translation>O tráfego de demonstração não iniciou: {e}</translation>
    </message>
    <message>
        <source>The gateway did not start: {e}</source>
        <translation>O gateway não iniciou: {e}</translation>
    </message>
    <message>
        <source>Stopping the gateway</source>
        <translation>Parando o gateway</translation>
    </message>
    <message>
        <source>Starting the gateway</source>
        <translation>Iniciando o gateway</translation>
    </message>
    <message>
        <source>Reading the gateway address</source>
        <translation>Lendo o endereço do gateway</translation>
    </message>
    <message>
        <source>Pausing sharing</source>
        <translation>Pausando o compartilhamento</translation>
    </message>
    <message>
        <source>Resuming sharing</source>
        <translation>Retomando o compartilhamento</translation>
    </message>
    <message>
        <source>Sharing paused: the GPU is freed as soon as running requests end.</source>
        <translation>Compartilhamento pausado: a GPU é liberada assim que as requisições em andamento terminarem.</translation>
    </message>
    <message>
        <source>Sharing resumed; the always-on models are loaded again.</source>
        <translation>Compartilhamento retomado; os modelos sempre ativos são carregados de novo.</translation>
    </message>
    <message>
        <source>Copied {url} to the clipboard.</source>
        <translation>{url} copiado para a área de transferência.</translation>
    </message>
    <message>
        <source>{what} failed: {message}</source>
        <translation>{what} falhou: {message}</translation>
    </message>
    <message>
        <source>PBPM Desktop keeps serving in the tray. Use Quit to stop the gateway.</source>
        <translation>O PBPM Desktop continua servindo na bandeja. Use Sair para parar o gateway.</translation>
    </message>
    <message>
        <source>Quitting</source>
        <translation>Saindo</translation>
    </message>
</context>
<context>
    <name>KeyCreatedDialog</name>
    <message>
        <source>Key created</source>
        <extracomment>the issuing dialog keeps its old name (tests and screenshots use it)</extracomment>
        <translation>Chave criada</translation>
    </message>
    <message>
        <source>Key for &lt;b&gt;{owner}&lt;/b&gt; created</source>
        <translation>Chave de &lt;b&gt;{owner}&lt;/b&gt; criada</translation>
    </message>
    <message>
        <source>Copy it now and give it to its owner: it is &lt;b&gt;shown only once&lt;/b&gt;. Only a hash is stored; if it is lost, revoke it and issue a new one.</source>
        <translation>Copie agora e entregue ao dono: ela é &lt;b&gt;mostrada uma única vez&lt;/b&gt;. Só um hash é guardado; se ela se perder, revogue-a e emita uma nova.</translation>
    </message>
    <message>
        <source>Copy</source>
        <translation>Copiar</translation>
    </message>
    <message>
        <source>Try it from a terminal:</source>
        <translation>Teste num terminal:</translation>
    </message>
    <message>
        <source>Copy command</source>
        <translation>Copiar comando</translation>
    </message>
    <message>
        <source>Copied ✓</source>
        <translation>Copiado ✓</translation>
    </message>
</context>
<context>
    <name>KeyDialog</name>
    <message>
        <source>Edit key</source>
        <translation>Editar chave</translation>
    </message>
    <message>
        <source>Key {prefix}… of {owner}. Changes apply to its next request; the key itself (the secret) stays the same.</source>
        <translation>Chave {prefix}… de {owner}. As alterações valem a partir da próxima requisição; a chave em si (o segredo) continua a mesma.</translation>
    </message>
    <message>
        <source>Issue a client key</source>
        <translation>Emitir uma chave de cliente</translation>
    </message>
    <message>
        <source>A client key lets one person or program use the models on this workstation. The key is shown once, right after it is created.</source>
        <translation>Uma chave de cliente permite que uma pessoa ou programa use os modelos desta estação de trabalho. A chave é mostrada uma única vez, logo após ser criada.</translation>
    </message>
    <message>
        <source>Save changes</source>
        <translation>Salvar alterações</translation>
    </message>
    <message>
        <source>Issue key</source>
        <translation>Emitir chave</translation>
    </message>
</context>
<context>
    <name>KeyPolicyForm</name>
    <message>
        <source>e.g. alice-laptop</source>
        <extracomment>the spin boxes&apos; 0 means &quot;no limit&quot;; the API&apos;s None does too</extracomment>
        <translation>ex.: notebook-alice</translation>
    </message>
    <message>
        <source>optional, shown as the owner</source>
        <translation>opcional, mostrado como dono</translation>
    </message>
    <message>
        <source>unlimited</source>
        <translation>ilimitado</translation>
    </message>
    <message>
        <source>Expires on</source>
        <translation>Expira em</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>Nome</translation>
    </message>
    <message>
        <source>Email</source>
        <translation>E-mail</translation>
    </message>
    <message>
        <source>Allowed models</source>
        <translation>Modelos permitidos</translation>
    </message>
    <message>
        <source>Requests per minute</source>
        <translation>Requisições por minuto</translation>
    </message>
    <message>
        <source>Tokens per day</source>
        <translation>Tokens por dia</translation>
    </message>
    <message>
        <source>Concurrent requests</source>
        <translation>Requisições simultâneas</translation>
    </message>
    <message>
        <source>Expiry</source>
        <translation>Validade</translation>
    </message>
    <message>
        <source>cloud</source>
        <translation>nuvem</translation>
    </message>
    <message>
        <source>{name} (not installed)</source>
        <translation>{name} (não instalado)</translation>
    </message>
    <message>
        <source>No model list yet (is Ollama running?): the key may use all models.</source>
        <translation>Ainda sem lista de modelos (o Ollama está rodando?): a chave poderá usar todos os modelos.</translation>
    </message>
    <message>
        <source>Only the ticked models; every other model is refused (403).</source>
        <translation>Só os modelos marcados; qualquer outro modelo é recusado (403).</translation>
    </message>
    <message>
        <source>None ticked: the key may use every installed model.</source>
        <translation>Nenhum marcado: a chave pode usar todos os modelos instalados.</translation>
    </message>
</context>
<context>
    <name>KeysPage</name>
    <message>
        <source>Keys</source>
        <translation>Chaves</translation>
    </message>
    <message>
        <source>Each person or program gets its own key, so usage is audited per key and a key can be revoked without affecting the others.</source>
        <translation>Cada pessoa ou programa recebe sua própria chave: o uso é auditado por chave e uma chave pode ser revogada sem afetar as outras.</translation>
    </message>
    <message>
        <source>Show revoked</source>
        <translation>Mostrar revogadas</translation>
    </message>
    <message>
        <source>Revoke…</source>
        <translation>Revogar…</translation>
    </message>
    <message>
        <source>Edit…</source>
        <translation>Editar…</translation>
    </message>
    <message>
        <source>Change the key&apos;s limits, allowed models or owner</source>
        <translation>Alterar os limites, os modelos permitidos ou o dono da chave</translation>
    </message>
    <message>
        <source>Issue key…</source>
        <translation>Emitir chave…</translation>
    </message>
    <message>
        <source>ID</source>
        <translation>ID</translation>
    </message>
    <message>
        <source>Prefix</source>
        <translation>Prefixo</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>Nome</translation>
    </message>
    <message>
        <source>Owner</source>
        <translation>Dono</translation>
    </message>
    <message>
        <source>Created</source>
        <translation>Criada</translation>
    </message>
    <message>
        <source>Last used</source>
        <translation>Último uso</translation>
    </message>
    <message>
        <source>Requests</source>
        <translation>Requisições</translation>
    </message>
    <message>
        <source>Tokens used</source>
        <translation>Tokens usados</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>Status</translation>
    </message>
    <message>
        <source>Limits</source>
        <translation>Limites</translation>
    </message>
    <message>
        <source>No keys yet. Issue one for each person or program that uses the models.</source>
        <translation>Nenhuma chave ainda. Emita uma para cada pessoa ou programa que usa os modelos.</translation>
    </message>
    <message>
        <source>Loading keys</source>
        <extracomment>the dialog showing a new key (tests and screenshots reach it here)</extracomment>
        <translation>Carregando as chaves</translation>
    </message>
    <message>
        <source>active</source>
        <translation>ativa</translation>
    </message>
    <message>
        <source>revoked</source>
        <translation>revogada</translation>
    </message>
    <message>
        <source>expired</source>
        <translation>expirada</translation>
    </message>
    <message>
        <source>{n} models</source>
        <translation>{n} modelos</translation>
    </message>
    <message>
        <source>models: {m}</source>
        <translation>modelos: {m}</translation>
    </message>
    <message>
        <source>{n} requests/min</source>
        <translation>{n} requisições/min</translation>
    </message>
    <message>
        <source>{n} tokens/day</source>
        <translation>{n} tokens/dia</translation>
    </message>
    <message>
        <source>{n} at once</source>
        <translation>{n} ao mesmo tempo</translation>
    </message>
    <message>
        <source>until {t}</source>
        <translation>até {t}</translation>
    </message>
    <message>
        <source>no limits</source>
        <translation>sem limites</translation>
    </message>
    <message>
        <source>Start the gateway to manage keys</source>
        <translation>Inicie o gateway para gerenciar chaves</translation>
    </message>
    <message>
        <source>Issuing a key</source>
        <translation>Emitindo uma chave</translation>
    </message>
    <message>
        <source>Could not issue the key: {e}</source>
        <translation>Não foi possível emitir a chave: {e}</translation>
    </message>
    <message>
        <source>Editing a key</source>
        <translation>Editando uma chave</translation>
    </message>
    <message>
        <source>Nothing changed.</source>
        <translation>Nada mudou.</translation>
    </message>
    <message>
        <source>Could not change the key: {e}</source>
        <translation>Não foi possível alterar a chave: {e}</translation>
    </message>
    <message>
        <source>Key {prefix}… updated.</source>
        <translation>Chave {prefix}… atualizada.</translation>
    </message>
    <message>
        <source>Revoking a key</source>
        <translation>Revogando uma chave</translation>
    </message>
    <message>
        <source>Revoke key {prefix}… of {owner}?

Every client using it is refused from now on. This cannot be undone; issue a new key if needed.</source>
        <translation>Revogar a chave {prefix}… de {owner}?

Todo cliente que a usa passa a ser recusado. Isto não pode ser desfeito; emita uma nova chave se precisar.</translation>
    </message>
    <message>
        <source>Revoke key</source>
        <translation>Revogar chave</translation>
    </message>
    <message>
        <source>Revoke</source>
        <translation>Revogar</translation>
    </message>
    <message>
        <source>Could not revoke the key: {e}</source>
        <translation>Não foi possível revogar a chave: {e}</translation>
    </message>
    <message>
        <source>Key {prefix}… revoked.</source>
        <translation>Chave {prefix}… revogada.</translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <source>PBPM Desktop</source>
        <extracomment>the user closed the window and there is no tray to keep the app in the window was closed to the tray (the app keeps running) no tray: the user chose to keep serving with the window minimised the open &quot;stop the gateway?&quot; question, if any (no tray only)</extracomment>
        <translation>PBPM Desktop</translation>
    </message>
    <message>
        <source> — demo</source>
        <translation> — demonstração</translation>
    </message>
    <message>
        <source> · demo</source>
        <translation> · demonstração</translation>
    </message>
    <message>
        <source>Ollama unreachable</source>
        <translation>Ollama inacessível</translation>
    </message>
    <message>
        <source>Serving</source>
        <translation>Servindo</translation>
    </message>
    <message>
        <source>Starting…</source>
        <translation>Iniciando…</translation>
    </message>
    <message>
        <source>Stopping…</source>
        <translation>Parando…</translation>
    </message>
    <message>
        <source>Stopped</source>
        <translation>Parado</translation>
    </message>
    <message>
        <source>Stop the gateway for everyone?</source>
        <translation>Parar o gateway para todos?</translation>
    </message>
    <message>
        <source>This desktop has no system tray, so the window cannot hide there. Keep serving with the window minimised, or quit: quitting stops the gateway and every client on the LAN loses access.</source>
        <translation>Esta área de trabalho não tem bandeja do sistema, então a janela não pode se esconder nela. Continue servindo com a janela minimizada, ou saia: sair para o gateway e todo cliente da rede local perde o acesso.</translation>
    </message>
    <message>
        <source>Keep serving (minimise)</source>
        <translation>Continuar servindo (minimizar)</translation>
    </message>
    <message>
        <source>Quit and stop the gateway</source>
        <translation>Sair e parar o gateway</translation>
    </message>
    <message>
        <source>Still serving: the window is minimised because this desktop has no tray. To stop the gateway, close the window and choose Quit.</source>
        <translation>Ainda servindo: a janela foi minimizada porque esta área de trabalho não tem bandeja. Para parar o gateway, feche a janela e escolha Sair.</translation>
    </message>
</context>
<context>
    <name>MessageBanner</name>
    <message>
        <source>Dismiss</source>
        <translation>Fechar</translation>
    </message>
</context>
<context>
    <name>ModelsPage</name>
    <message>
        <source>Models &amp; VRAM</source>
        <translation>Modelos e VRAM</translation>
    </message>
    <message>
        <source>Always-on models stay loaded; on-demand models are swapped in when a request needs them and unloaded when idle or to make room.</source>
        <translation>Modelos sempre ativos ficam carregados; modelos sob demanda são carregados quando uma requisição precisa deles e descarregados quando ociosos ou para liberar espaço.</translation>
    </message>
    <message>
        <source>Refresh</source>
        <translation>Atualizar</translation>
    </message>
    <message>
        <source>VRAM budget</source>
        <translation>Orçamento de VRAM</translation>
    </message>
    <message>
        <source>Model</source>
        <translation>Modelo</translation>
    </message>
    <message>
        <source>Category</source>
        <translation>Categoria</translation>
    </message>
    <message>
        <source>Size</source>
        <translation>Tamanho</translation>
    </message>
    <message>
        <source>State</source>
        <translation>Estado</translation>
    </message>
    <message>
        <source>VRAM</source>
        <translation>VRAM</translation>
    </message>
    <message>
        <source>Expires</source>
        <translation>Expira</translation>
    </message>
    <message>
        <source>In flight</source>
        <translation>Em andamento</translation>
    </message>
    <message>
        <source>Waiting</source>
        <translation>Aguardando</translation>
    </message>
    <message>
        <source>VRAM used per model (last 10 minutes), against the budget</source>
        <translation>VRAM usada por modelo (últimos 10 minutos), comparada ao orçamento</translation>
    </message>
    <message>
        <source>Reading the VRAM state</source>
        <translation>Lendo o estado da VRAM</translation>
    </message>
    <message>
        <source>{size} (partly on CPU)</source>
        <translation>{size} (parte na CPU)</translation>
    </message>
    <message>
        <source>cloud</source>
        <translation>nuvem</translation>
    </message>
    <message>
        <source>always-on</source>
        <translation>sempre ativo</translation>
    </message>
    <message>
        <source>on-demand</source>
        <translation>sob demanda</translation>
    </message>
    <message>
        <source>Runs on ollama.com</source>
        <translation>Roda no ollama.com</translation>
    </message>
    <message>
        <source>Too large for the budget</source>
        <translation>Grande demais para o orçamento</translation>
    </message>
    <message>
        <source>Ollama unloaded {names} on its own. Make MAX_LOADED_MODELS match Ollama&apos;s OLLAMA_MAX_LOADED_MODELS, and check that nothing else loads models.</source>
        <translation>O Ollama descarregou {names} por conta própria. Faça MAX_LOADED_MODELS igual ao OLLAMA_MAX_LOADED_MODELS do Ollama e verifique se nada mais carrega modelos.</translation>
    </message>
    <message>
        <source>The gateway is stopped: start it on the Overview page to see models.</source>
        <translation>O gateway está parado: inicie-o na página Visão geral para ver os modelos.</translation>
    </message>
    <message>
        <source>Ollama does not answer at {url}, so there is no model list and nothing can be loaded. Start Ollama (ollama serve); this page fills in by itself when it answers.</source>
        <translation>O Ollama não responde em {url}: não há lista de modelos e nada pode ser carregado. Inicie o Ollama (ollama serve); esta página se preenche sozinha quando ele responder.</translation>
    </message>
    <message>
        <source>If it runs elsewhere, correct the URL in Settings.</source>
        <translation>Se ele roda em outra máquina, corrija a URL em Configurações.</translation>
    </message>
    <message>
        <source>Ollama answers but has no models installed. Pull one on the Ollama host, e.g. ollama pull llama3.2:3b, then press Refresh.</source>
        <translation>O Ollama responde, mas não tem modelos instalados. Baixe um na máquina do Ollama, por exemplo ollama pull llama3.2:3b, e clique em Atualizar.</translation>
    </message>
    <message>
        <source>Loading…</source>
        <translation>Carregando…</translation>
    </message>
    <message>
        <source>Unloading…</source>
        <translation>Descarregando…</translation>
    </message>
    <message>
        <source>Loaded</source>
        <translation>Carregado</translation>
    </message>
    <message>
        <source>Queued</source>
        <translation>Na fila</translation>
    </message>
    <message>
        <source>Not loaded</source>
        <translation>Não carregado</translation>
    </message>
    <message>
        <source>{used} of {limit} used</source>
        <translation>{used} de {limit} em uso</translation>
    </message>
    <message>
        <source>no VRAM state yet</source>
        <translation>ainda sem estado da VRAM</translation>
    </message>
    <message>
        <source>· GPU: {used} of {total}</source>
        <translation>· GPU: {used} de {total}</translation>
    </message>
    <message>
        <source>· GPU totals: no NVML</source>
        <translation>· Totais da GPU: sem NVML</translation>
    </message>
    <message>
        <source>Always-on models not installed: {names}</source>
        <translation>Modelos sempre ativos não instalados: {names}</translation>
    </message>
    <message>
        <source>Unloading {model} to make room for {other}…</source>
        <translation>Descarregando {model} para liberar espaço para {other}…</translation>
    </message>
    <message>
        <source>Unloading {model}…</source>
        <translation>Descarregando {model}…</translation>
    </message>
    <message>
        <source>(waiting for {n} request(s) to finish)</source>
        <translation>(aguardando {n} requisição(ões) terminar(em))</translation>
    </message>
    <message>
        <source>Loading {model} into VRAM…</source>
        <translation>Carregando {model} na VRAM…</translation>
    </message>
</context>
<context>
    <name>OverviewPage</name>
    <message>
        <source>Overview</source>
        <translation>Visão geral</translation>
    </message>
    <message>
        <source>The gateway in front of Ollama: where clients connect and what it serves.</source>
        <translation>O gateway na frente do Ollama: onde os clientes se conectam e o que ele serve.</translation>
    </message>
    <message>
        <source>Stop gateway</source>
        <translation>Parar gateway</translation>
    </message>
    <message>
        <source>Endpoint</source>
        <translation>Endpoint</translation>
    </message>
    <message>
        <source>Local</source>
        <translation>Local</translation>
    </message>
    <message>
        <source>LAN</source>
        <translation>Rede local</translation>
    </message>
    <message>
        <source>Ollama</source>
        <translation>Ollama</translation>
    </message>
    <message>
        <source>Requests today</source>
        <translation>Requisições hoje</translation>
    </message>
    <message>
        <source>Tokens today</source>
        <translation>Tokens hoje</translation>
    </message>
    <message>
        <source>Models loaded</source>
        <translation>Modelos carregados</translation>
    </message>
    <message>
        <source>Master key</source>
        <translation>Chave mestra</translation>
    </message>
    <message>
        <source>The master key only manages keys (admin API and this app); clients get their own keys on the Keys page.</source>
        <translation>A chave mestra só gerencia chaves (API de administração e este app); os clientes recebem suas próprias chaves na página Chaves.</translation>
    </message>
    <message>
        <source>Quick start for clients</source>
        <translation>Início rápido para clientes</translation>
    </message>
    <message>
        <source>Refreshing the overview</source>
        <translation>Atualizando a visão geral</translation>
    </message>
    <message>
        <source>Sharing paused</source>
        <translation>Compartilhamento pausado</translation>
    </message>
    <message>
        <source>You paused sharing: clients get &apos;503, the owner paused sharing&apos; until you resume it from the tray.</source>
        <translation>Você pausou o compartilhamento: os clientes recebem &apos;503, o dono pausou o compartilhamento&apos; até você retomá-lo pela bandeja.</translation>
    </message>
    <message>
        <source>Ollama unreachable</source>
        <translation>Ollama inacessível</translation>
    </message>
    <message>
        <source>The gateway is serving, but Ollama does not answer at {url}. Clients get &apos;502 Ollama unreachable&apos; until it is back. Start Ollama (ollama serve).</source>
        <translation>O gateway está servindo, mas o Ollama não responde em {url}. Os clientes recebem &apos;502 Ollama unreachable&apos; até ele voltar. Inicie o Ollama (ollama serve).</translation>
    </message>
    <message>
        <source>If it runs elsewhere, correct the URL in Settings.</source>
        <translation>Se ele roda em outra máquina, corrija a URL em Configurações.</translation>
    </message>
    <message>
        <source>Serving</source>
        <translation>Servindo</translation>
    </message>
    <message>
        <source>Clients on this machine and the LAN can connect with their keys.</source>
        <translation>Clientes desta máquina e da rede local podem se conectar com suas chaves.</translation>
    </message>
    <message>
        <source>Starting…</source>
        <translation>Iniciando…</translation>
    </message>
    <message>
        <source>Opening the database and contacting Ollama…</source>
        <translation>Abrindo o banco de dados e contatando o Ollama…</translation>
    </message>
    <message>
        <source>Stopping…</source>
        <translation>Parando…</translation>
    </message>
    <message>
        <source>Finishing requests and flushing the audit…</source>
        <translation>Terminando as requisições e gravando a auditoria…</translation>
    </message>
    <message>
        <source>Stopped</source>
        <translation>Parado</translation>
    </message>
    <message>
        <source>The gateway is stopped; clients cannot connect.</source>
        <translation>O gateway está parado; os clientes não conseguem se conectar.</translation>
    </message>
    <message>
        <source>Start gateway</source>
        <translation>Iniciar gateway</translation>
    </message>
    <message>
        <source>Listening on this machine only; set the host to 0.0.0.0 for the LAN.</source>
        <translation>Escutando só nesta máquina; use o host 0.0.0.0 para a rede local.</translation>
    </message>
    <message>
        <source>Every route except /health needs a key: Authorization: Bearer &lt;key&gt;.</source>
        <translation>Toda rota exceto /health exige uma chave: Authorization: Bearer &lt;chave&gt;.</translation>
    </message>
    <message>
        <source>Up</source>
        <translation>No ar</translation>
    </message>
    <message>
        <source>version {v} at {url}</source>
        <translation>versão {v} em {url}</translation>
    </message>
    <message>
        <source>Unreachable</source>
        <translation>Inacessível</translation>
    </message>
    <message>
        <source>not checked yet</source>
        <translation>ainda não verificado</translation>
    </message>
    <message>
        <source>Ollama clients: point them at the gateway and send a key.</source>
        <translation>Clientes Ollama: aponte-os para o gateway e envie uma chave.</translation>
    </message>
    <message>
        <source>OpenAI clients: base URL &lt;code&gt;{url}/v1&lt;/code&gt;, API key = the client key.</source>
        <translation>Clientes OpenAI: URL base &lt;code&gt;{url}/v1&lt;/code&gt;, API key = a chave do cliente.</translation>
    </message>
    <message>
        <source>{n} of {total}</source>
        <translation>{n} de {total}</translation>
    </message>
    <message>
        <source>{used} of the {limit} VRAM budget</source>
        <translation>{used} do orçamento de VRAM de {limit}</translation>
    </message>
    <message>
        <source>since 00:00 UTC</source>
        <translation>desde 00:00 UTC</translation>
    </message>
    <message>
        <source>{n} prompt + completion tokens</source>
        <translation>{n} tokens de prompt + resposta</translation>
    </message>
    <message>
        <source>gateway stopped</source>
        <translation>gateway parado</translation>
    </message>
    <message>
        <source>Stored in the {where}.</source>
        <translation>Guardada em: {where}.</translation>
    </message>
    <message>
        <source>Not loaded yet.</source>
        <translation>Ainda não carregada.</translation>
    </message>
    <message>
        <source>HTTPS certificate SHA-256: {fp}</source>
        <translation>Certificado HTTPS SHA-256: {fp}</translation>
    </message>
    <message>
        <source>Plain HTTP: keys cross the network readable; see README, TLS.</source>
        <translation>HTTP sem criptografia: as chaves atravessam a rede legíveis; veja o README, TLS.</translation>
    </message>
    <message>
        <source>Security: {w}</source>
        <translation>Segurança: {w}</translation>
    </message>
</context>
<context>
    <name>RequestDetailDialog</name>
    <message>
        <source>Request details</source>
        <translation>Detalhes da requisição</translation>
    </message>
    <message>
        <source>(key #{id})</source>
        <translation>(chave nº {id})</translation>
    </message>
    <message>
        <source>Time</source>
        <translation>Hora</translation>
    </message>
    <message>
        <source>Key</source>
        <translation>Chave</translation>
    </message>
    <message>
        <source>Owner</source>
        <translation>Dono</translation>
    </message>
    <message>
        <source>Model</source>
        <translation>Modelo</translation>
    </message>
    <message>
        <source>(no model)</source>
        <translation>(sem modelo)</translation>
    </message>
    <message>
        <source>Route</source>
        <translation>Rota</translation>
    </message>
    <message>
        <source>Prompt tokens</source>
        <translation>Tokens de prompt</translation>
    </message>
    <message>
        <source>Completion tokens</source>
        <translation>Tokens de resposta</translation>
    </message>
    <message>
        <source>Total tokens</source>
        <translation>Total de tokens</translation>
    </message>
    <message>
        <source>Duration</source>
        <translation>Duração</translation>
    </message>
    <message>
        <source>First token after</source>
        <translation>Primeiro token após</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>Status</translation>
    </message>
    <message>
        <source>Client</source>
        <translation>Cliente</translation>
    </message>
</context>
<context>
    <name>RequestsModel</name>
    <message>
        <source>Time</source>
        <translation>Hora</translation>
    </message>
    <message>
        <source>Key</source>
        <translation>Chave</translation>
    </message>
    <message>
        <source>Owner</source>
        <translation>Dono</translation>
    </message>
    <message>
        <source>Model</source>
        <translation>Modelo</translation>
    </message>
    <message>
        <source>Route</source>
        <translation>Rota</translation>
    </message>
    <message>
        <source>Prompt</source>
        <translation>Prompt</translation>
    </message>
    <message>
        <source>Completion</source>
        <translation>Resposta</translation>
    </message>
    <message>
        <source>Duration</source>
        <translation>Duração</translation>
    </message>
    <message>
        <source>First token</source>
        <translation>1º token</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>Status</translation>
    </message>
    <message>
        <source>Client</source>
        <translation>Cliente</translation>
    </message>
    <message>
        <source>(no model)</source>
        <translation>(sem modelo)</translation>
    </message>
</context>
<context>
    <name>RequestsPage</name>
    <message>
        <source>Requests</source>
        <translation>Requisições</translation>
    </message>
    <message>
        <source>Every request through the gateway, as it finishes (newest first).</source>
        <translation>Cada requisição que passa pelo gateway, ao terminar (mais recentes primeiro).</translation>
    </message>
    <message>
        <source>Filter by key, owner, model, status…</source>
        <translation>Filtrar por chave, dono, modelo, status…</translation>
    </message>
    <message>
        <source>Pause</source>
        <translation>Pausar</translation>
    </message>
    <message>
        <source>Stop adding rows while you read; new ones are kept</source>
        <translation>Parar de adicionar linhas enquanto você lê; as novas ficam guardadas</translation>
    </message>
    <message>
        <source>Double-click a request for all its details</source>
        <translation>Clique duas vezes numa requisição para ver todos os detalhes</translation>
    </message>
    <message>
        <source>Loading recent requests</source>
        <translation>Carregando as requisições recentes</translation>
    </message>
    <message>
        <source>{shown} of {n} requests match “{filter}” (at most {max} kept)</source>
        <translation>{shown} de {n} requisições correspondem a “{filter}” (no máximo {max} guardadas)</translation>
    </message>
    <message>
        <source>{n} requests shown (at most {max} kept)</source>
        <translation>{n} requisições exibidas (no máximo {max} guardadas)</translation>
    </message>
    <message>
        <source>{n} new while paused</source>
        <translation>{n} novas durante a pausa</translation>
    </message>
</context>
<context>
    <name>SettingsForm</name>
    <message>
        <source>Set by the environment variable {name}; unset it to edit here.</source>
        <extracomment>what may be typed: a Go duration (30m, 1h30m, 1.5h) or whole seconds (1800, 0, -1); the exact check on apply is core.goduration.keep_alive_for_ollama, the one start-up uses editors whose attribute is not the setting&apos;s name (the rest are named after the setting) setting -&gt; its editor, for the settings config.py declares `page=True`</extracomment>
        <translation>Definido pela variável de ambiente {name}; remova-a para editar aqui.</translation>
    </message>
    <message>
        <source>0.0.0.0 (LAN)</source>
        <translation>0.0.0.0 (rede local)</translation>
    </message>
    <message>
        <source>127.0.0.1 (this machine)</source>
        <translation>127.0.0.1 (esta máquina)</translation>
    </message>
    <message>
        <source>All interfaces: clients on the LAN can connect</source>
        <translation>Todas as interfaces: clientes da rede local podem se conectar</translation>
    </message>
    <message>
        <source>Only programs on this machine can connect</source>
        <translation>Só programas desta máquina podem se conectar</translation>
    </message>
    <message>
        <source>any free port</source>
        <translation>qualquer porta livre</translation>
    </message>
    <message>
        <source>Start minimised to the tray</source>
        <translation>Iniciar minimizado na bandeja</translation>
    </message>
    <message>
        <source>Start PBPM Desktop when I log in</source>
        <translation>Iniciar o PBPM Desktop quando eu entrar</translation>
    </message>
    <message>
        <source>System default</source>
        <translation>Padrão do sistema</translation>
    </message>
    <message>
        <source>System default is {name} here. The language applies the next time PBPM Desktop starts.</source>
        <translation>O padrão do sistema aqui é {name}. O idioma vale a partir da próxima vez que o PBPM Desktop iniciar.</translation>
    </message>
    <message>
        <source>Ollama and network</source>
        <translation>Ollama e rede</translation>
    </message>
    <message>
        <source>Ollama URL</source>
        <translation>URL do Ollama</translation>
    </message>
    <message>
        <source>Listen on</source>
        <translation>Escutar em</translation>
    </message>
    <message>
        <source>Port</source>
        <translation>Porta</translation>
    </message>
    <message>
        <source>LAN clients need 0.0.0.0; every route but /health needs a key.</source>
        <translation>Clientes da rede local precisam de 0.0.0.0; toda rota exceto /health exige uma chave.</translation>
    </message>
    <message>
        <source>Models and VRAM</source>
        <translation>Modelos e VRAM</translation>
    </message>
    <message>
        <source>VRAM budget</source>
        <translation>Orçamento de VRAM</translation>
    </message>
    <message>
        <source>Heavy models at once</source>
        <translation>Modelos pesados ao mesmo tempo</translation>
    </message>
    <message>
        <source>Unload idle after</source>
        <translation>Descarregar ocioso após</translation>
    </message>
    <message>
        <source>The budget is what loaded models may use in total; on-demand models are unloaded after the idle time (30m, 1h, 0 = at once, -1 = never).</source>
        <translation>O orçamento é o que os modelos carregados podem usar no total; modelos sob demanda são descarregados após o tempo ocioso (30m, 1h, 0 = na hora, -1 = nunca).</translation>
    </message>
    <message>
        <source>Always-on models (loaded at start, never evicted):</source>
        <translation>Modelos sempre ativos (carregados ao iniciar, nunca descarregados):</translation>
    </message>
    <message>
        <source>Desktop</source>
        <translation>Área de trabalho</translation>
    </message>
    <message>
        <source>Language</source>
        <translation>Idioma</translation>
    </message>
    <message>
        <source>Not available in the demo: it would start the demo, with its simulated Ollama, every time you log in. Run pbpm-desktop to use it.</source>
        <translation>Indisponível na demonstração: ela iniciaria a demonstração, com seu Ollama simulado, a cada login. Execute pbpm-desktop para usar esta opção.</translation>
    </message>
    <message>
        <source>Not available on this system (it needs an XDG desktop session).</source>
        <translation>Indisponível neste sistema (requer uma sessão de desktop XDG).</translation>
    </message>
    <message>
        <source>…and {n} more.</source>
        <translation>…e mais {n}.</translation>
    </message>
    <message>
        <source>{name} (not installed)</source>
        <translation>{name} (não instalado)</translation>
    </message>
</context>
<context>
    <name>SettingsPage</name>
    <message>
        <source>Settings</source>
        <translation>Configurações</translation>
    </message>
    <message>
        <source>Saved to your user config file; environment variables take precedence.</source>
        <translation>Salvas no seu arquivo de configuração; variáveis de ambiente têm precedência.</translation>
    </message>
    <message>
        <source>Revert</source>
        <extracomment>the editors; `form.widgets` maps each page setting to its editor</extracomment>
        <translation>Desfazer</translation>
    </message>
    <message>
        <source>Save and apply</source>
        <translation>Salvar e aplicar</translation>
    </message>
    <message>
        <source>Loading settings</source>
        <translation>Carregando as configurações</translation>
    </message>
    <message>
        <source>Demo mode: changes apply to this session only and are not saved.</source>
        <translation>Modo de demonstração: as alterações valem só para esta sessão e não são salvas.</translation>
    </message>
    <message>
        <source>Settings file: {path}</source>
        <translation>Arquivo de configuração: {path}</translation>
    </message>
    <message>
        <source>Fixed by the environment: {names}</source>
        <translation>Definidas pelo ambiente: {names}</translation>
    </message>
    <message>
        <source>Applying settings</source>
        <translation>Aplicando as configurações</translation>
    </message>
    <message>
        <source>Keep-alive must be a duration like 30m, 1h30m or 90s, or whole seconds (1800; 0 unloads at once, -1 keeps loaded forever).</source>
        <translation>O tempo de permanência deve ser uma duração como 30m, 1h30m ou 90s, ou segundos inteiros (1800; 0 descarrega na hora, -1 mantém carregado para sempre).</translation>
    </message>
    <message>
        <source>Not applied. {reason}</source>
        <translation>Não aplicado. {reason}</translation>
    </message>
    <message>
        <source>Nothing changed.</source>
        <translation>Nada mudou.</translation>
    </message>
    <message>
        <source>Applying…</source>
        <translation>Aplicando…</translation>
    </message>
    <message>
        <source>Restarting the gateway…</source>
        <translation>Reiniciando o gateway…</translation>
    </message>
    <message>
        <source>Settings saved to {path} and applied.</source>
        <translation>Configurações salvas em {path} e aplicadas.</translation>
    </message>
    <message>
        <source>Settings applied for this session.</source>
        <translation>Configurações aplicadas a esta sessão.</translation>
    </message>
    <message>
        <source>Could not save the settings: {e}</source>
        <translation>Não foi possível salvar as configurações: {e}</translation>
    </message>
    <message>
        <source>The gateway could not start with the new settings ({e}) nor with the previous ones ({e2}). Fix the settings and apply again.</source>
        <translation>O gateway não iniciou com as novas configurações ({e}) nem com as anteriores ({e2}). Corrija as configurações e aplique de novo.</translation>
    </message>
    <message>
        <source>The gateway could not start with the new settings: {e}. It is running with the previous settings again.</source>
        <translation>O gateway não iniciou com as novas configurações: {e}. Ele voltou a rodar com as configurações anteriores.</translation>
    </message>
</context>
<context>
    <name>Tray</name>
    <message>
        <source>PBPM Desktop</source>
        <translation>PBPM Desktop</translation>
    </message>
</context>
<context>
    <name>TrayMenu</name>
    <message>
        <source>Open dashboard</source>
        <translation>Abrir o painel</translation>
    </message>
    <message>
        <source>Models</source>
        <translation>Modelos</translation>
    </message>
    <message>
        <source>Copy endpoint URL</source>
        <translation>Copiar URL do endpoint</translation>
    </message>
    <message>
        <source>Stop gateway</source>
        <extracomment>model name -&gt; its Preload/Unload action, as of the last time the submenu opened</extracomment>
        <translation>Parar gateway</translation>
    </message>
    <message>
        <source>Quit</source>
        <translation>Sair</translation>
    </message>
    <message>
        <source>Start gateway</source>
        <translation>Iniciar gateway</translation>
    </message>
    <message>
        <source>Pause sharing and free the GPU</source>
        <translation>Pausar o compartilhamento e liberar a GPU</translation>
    </message>
    <message>
        <source>Pause sharing for…</source>
        <translation>Pausar o compartilhamento por…</translation>
    </message>
    <message>
        <source>{n} minutes</source>
        <translation>{n} minutos</translation>
    </message>
    <message>
        <source>Resume sharing</source>
        <translation>Retomar o compartilhamento</translation>
    </message>
    <message>
        <source>No models (is Ollama running?)</source>
        <translation>Nenhum modelo (o Ollama está rodando?)</translation>
    </message>
    <message>
        <source>cloud</source>
        <translation>nuvem</translation>
    </message>
    <message>
        <source>Loading {name}…</source>
        <translation>Carregando {name}…</translation>
    </message>
    <message>
        <source>Unloading {name}…</source>
        <translation>Descarregando {name}…</translation>
    </message>
    <message>
        <source>{name} stays loaded ({size}, always-on)</source>
        <translation>{name} fica carregado ({size}, sempre ativo)</translation>
    </message>
    <message>
        <source>{name} runs on ollama.com (cloud)</source>
        <translation>{name} roda no ollama.com (nuvem)</translation>
    </message>
    <message>
        <source>Unload {name} ({size})</source>
        <translation>Descarregar {name} ({size})</translation>
    </message>
    <message>
        <source>{name} ({size}) can never fit the VRAM budget</source>
        <translation>{name} ({size}) nunca cabe no orçamento de VRAM</translation>
    </message>
    <message>
        <source>Preload {name} ({size})</source>
        <translation>Pré-carregar {name} ({size})</translation>
    </message>
</context>
<context>
    <name>UrlRow</name>
    <message>
        <source>Copy</source>
        <translation>Copiar</translation>
    </message>
    <message>
        <source>Copied ✓</source>
        <translation>Copiado ✓</translation>
    </message>
</context>
<context>
    <name>UsagePage</name>
    <message>
        <source>Export usage</source>
        <extracomment>asks where to save the CSV; returns None when cancelled (tests inject their own)</extracomment>
        <translation>Exportar uso</translation>
    </message>
    <message>
        <source>CSV files (*.csv)</source>
        <translation>Arquivos CSV (*.csv)</translation>
    </message>
    <message>
        <source>(no key)</source>
        <translation>(sem chave)</translation>
    </message>
    <message>
        <source>(no model)</source>
        <translation>(sem modelo)</translation>
    </message>
    <message>
        <source>Usage</source>
        <translation>Uso</translation>
    </message>
    <message>
        <source>Tokens used through the gateway, from the audit database.</source>
        <translation>Tokens usados pelo gateway, do banco de auditoria.</translation>
    </message>
    <message>
        <source>Last 24 hours</source>
        <translation>Últimas 24 horas</translation>
    </message>
    <message>
        <source>Last 7 days</source>
        <translation>Últimos 7 dias</translation>
    </message>
    <message>
        <source>Last 30 days</source>
        <translation>Últimos 30 dias</translation>
    </message>
    <message>
        <source>Hourly</source>
        <translation>Por hora</translation>
    </message>
    <message>
        <source>Daily</source>
        <translation>Diário</translation>
    </message>
    <message>
        <source>Export CSV…</source>
        <translation>Exportar CSV…</translation>
    </message>
    <message>
        <source>Refresh</source>
        <translation>Atualizar</translation>
    </message>
    <message>
        <source>prompt</source>
        <translation>prompt</translation>
    </message>
    <message>
        <source>completion</source>
        <translation>resposta</translation>
    </message>
    <message>
        <source>Requests counts every call through the gateway, including refused and failed ones (401, 429, 502…) and calls without a model (such as /api/tags, shown as “(no model)”). Tokens are what Ollama reported for completed generations.</source>
        <translation>Requisições conta toda chamada ao gateway, inclusive as recusadas e com falha (401, 429, 502…) e as chamadas sem modelo (como /api/tags, mostradas como “(sem modelo)”). Tokens são o que o Ollama informou nas gerações concluídas.</translation>
    </message>
    <message>
        <source>Tokens over time</source>
        <translation>Tokens ao longo do tempo</translation>
    </message>
    <message>
        <source>By key</source>
        <translation>Por chave</translation>
    </message>
    <message>
        <source>By model</source>
        <translation>Por modelo</translation>
    </message>
    <message>
        <source>Owner</source>
        <translation>Dono</translation>
    </message>
    <message>
        <source>Key</source>
        <translation>Chave</translation>
    </message>
    <message>
        <source>Model</source>
        <translation>Modelo</translation>
    </message>
    <message>
        <source>Requests</source>
        <translation>Requisições</translation>
    </message>
    <message>
        <source>Prompt</source>
        <translation>Prompt</translation>
    </message>
    <message>
        <source>Completion</source>
        <translation>Resposta</translation>
    </message>
    <message>
        <source>Total</source>
        <translation>Total</translation>
    </message>
    <message>
        <source>Last used</source>
        <translation>Último uso</translation>
    </message>
    <message>
        <source>Loading usage</source>
        <translation>Carregando o uso</translation>
    </message>
    <message>
        <source>{tokens} tokens in {requests} requests · keys: {keys} · models: {models}</source>
        <translation>{tokens} tokens em {requests} requisições · chaves: {keys} · modelos: {models}</translation>
    </message>
    <message>
        <source>Could not write {path}: {e}</source>
        <translation>Não foi possível gravar {path}: {e}</translation>
    </message>
    <message>
        <source>Exported {n} rows to {path}.</source>
        <translation>{n} linhas exportadas para {path}.</translation>
    </message>
</context>
<context>
    <name>advice</name>
    <message>
        <source>{var} is set in the environment, which overrides Settings: change it there and restart PBPM Desktop.</source>
        <translation>{var} está definida no ambiente, que tem precedência sobre as Configurações: altere-a lá e reinicie o PBPM Desktop.</translation>
    </message>
    <message>
        <source>; is another gateway running? Choose another port in Settings.</source>
        <extracomment>(what the core says, the Settings attribute, its variable, what to say instead)</extracomment>
        <translation>; há outro gateway rodando? Escolha outra porta em Configurações.</translation>
    </message>
    <message>
        <source> or correct the Ollama URL in Settings.</source>
        <translation> ou corrija a URL do Ollama em Configurações.</translation>
    </message>
    <message>
        <source>Raise the VRAM budget or untick always-on models in Settings, or use a smaller model.</source>
        <translation>Aumente o orçamento de VRAM ou desmarque modelos sempre ativos em Configurações, ou use um modelo menor.</translation>
    </message>
    <message>
        <source>untick it under Always-on models in Settings to allow unloading it</source>
        <translation>desmarque-o em Modelos sempre ativos, nas Configurações, para poder descarregá-lo</translation>
    </message>
    <message>
        <source>Set “Heavy models at once” to 1 or more in Settings.</source>
        <translation>Defina “Modelos pesados ao mesmo tempo” como 1 ou mais em Configurações.</translation>
    </message>
    <message>
        <source>raise the VRAM budget or “Heavy models at once” in Settings</source>
        <translation>aumente o orçamento de VRAM ou “Modelos pesados ao mesmo tempo” em Configurações</translation>
    </message>
    <message>
        <source>or pick one on the Models page</source>
        <translation>ou escolha um na página Modelos</translation>
    </message>
    <message>
        <source>the {value} GB VRAM budget</source>
        <extracomment>bare variable names in a sentence, shown as the Settings label they correspond to</extracomment>
        <translation>o orçamento de VRAM de {value} GB</translation>
    </message>
    <message>
        <source>“Heavy models at once” is {value}</source>
        <translation>“Modelos pesados ao mesmo tempo” está em {value}</translation>
    </message>
</context>
<context>
    <name>charts</name>
    <message>
        <source>now</source>
        <extracomment>the widest a ranking label may get (the rest of the chart is for the bars) pixels between the VRAM plot&apos;s legend and the top of the view, and again below it</extracomment>
        <translation>agora</translation>
    </message>
    <message>
        <source>VRAM (GB)</source>
        <translation>VRAM (GB)</translation>
    </message>
    <message>
        <source>time ago (min:s)</source>
        <translation>tempo atrás (min:s)</translation>
    </message>
    <message>
        <source>budget</source>
        <translation>orçamento</translation>
    </message>
    <message>
        <source>GPU total</source>
        <translation>GPU total</translation>
    </message>
    <message>
        <source>GPU used</source>
        <translation>GPU em uso</translation>
    </message>
    <message>
        <source>budget {size}</source>
        <translation>orçamento {size}</translation>
    </message>
    <message>
        <source>GPU total {size}</source>
        <translation>GPU total {size}</translation>
    </message>
    <message>
        <source>others</source>
        <translation>outros</translation>
    </message>
</context>
<context>
    <name>errors</name>
    <message>
        <source>The operation timed out. Is Ollama busy or unreachable?</source>
        <translation>A operação excedeu o tempo. O Ollama está ocupado ou inacessível?</translation>
    </message>
    <message>
        <source>A system error occurred.</source>
        <translation>Ocorreu um erro do sistema.</translation>
    </message>
    <message>
        <source>Unexpected error ({name}); see the log for details.</source>
        <translation>Erro inesperado ({name}); veja o log para detalhes.</translation>
    </message>
</context>
<context>
    <name>fit</name>
    <message>
        <source>No on-demand model may be loaded: “Heavy models at once” is 0 in Settings.</source>
        <translation>Nenhum modelo sob demanda pode ser carregado: “Modelos pesados ao mesmo tempo” está em 0 nas Configurações.</translation>
    </message>
    <message>
        <source>{model} needs {size}, but the {budget} VRAM budget leaves {free} next to the always-on models ({reserved}). Raise the budget or untick always-on models in Settings.</source>
        <translation>{model} precisa de {size}, mas o orçamento de VRAM de {budget} deixa {free} além dos modelos sempre ativos ({reserved}). Aumente o orçamento ou desmarque modelos sempre ativos em Configurações.</translation>
    </message>
    <message>
        <source>The always-on models need {total} together ({models}), more than the {budget} VRAM budget. Raise the budget to at least {total} or untick some of them.</source>
        <translation>Os modelos sempre ativos precisam de {total} juntos ({models}), mais que o orçamento de VRAM de {budget}. Aumente o orçamento para pelo menos {total} ou desmarque alguns deles.</translation>
    </message>
</context>
<context>
    <name>formatting</name>
    <message>
        <source>{n} s</source>
        <extracomment>keep_alive -1 makes Ollama report an expiry centuries away: show &quot;never&quot; instead</extracomment>
        <translation>{n} s</translation>
    </message>
    <message>
        <source>{n} min</source>
        <translation>{n} min</translation>
    </message>
    <message>
        <source>{h} h {m} min</source>
        <translation>{h} h {m} min</translation>
    </message>
    <message>
        <source>{n} d</source>
        <translation>{n} d</translation>
    </message>
    <message>
        <source>never</source>
        <translation>nunca</translation>
    </message>
    <message>
        <source>just now</source>
        <translation>agora mesmo</translation>
    </message>
    <message>
        <source>{span} ago</source>
        <translation>há {span}</translation>
    </message>
    <message>
        <source>now</source>
        <translation>agora</translation>
    </message>
    <message>
        <source>in {span}</source>
        <translation>em {span}</translation>
    </message>
</context>
<context>
    <name>model_ops</name>
    <message>
        <source>Could not load {model}: {error}</source>
        <translation>Não foi possível carregar {model}: {error}</translation>
    </message>
    <message>
        <source>Could not unload {model}: {error}</source>
        <translation>Não foi possível descarregar {model}: {error}</translation>
    </message>
    <message>
        <source>{model} is unloaded.</source>
        <translation>{model} foi descarregado.</translation>
    </message>
    <message>
        <source>{model} is loaded ({time}).</source>
        <translation>{model} está carregado ({time}).</translation>
    </message>
    <message>
        <source>Unloaded to make room: {names}.</source>
        <translation>Descarregados para liberar espaço: {names}.</translation>
    </message>
</context>
<context>
    <name>tray</name>
    <message>
        <source>Sharing paused</source>
        <extracomment>the &quot;Pause sharing for…&quot; submenu</extracomment>
        <translation>Compartilhamento pausado</translation>
    </message>
    <message>
        <source>Serving — Ollama unreachable</source>
        <translation>Servindo — Ollama inacessível</translation>
    </message>
    <message>
        <source>Serving at {url}</source>
        <translation>Servindo em {url}</translation>
    </message>
    <message>
        <source>Starting…</source>
        <translation>Iniciando…</translation>
    </message>
    <message>
        <source>Stopping…</source>
        <translation>Parando…</translation>
    </message>
    <message>
        <source>Gateway stopped</source>
        <translation>Gateway parado</translation>
    </message>
    <message>
        <source>PBPM Desktop</source>
        <translation>PBPM Desktop</translation>
    </message>
    <message>
        <source>Local: {url}</source>
        <translation>Local: {url}</translation>
    </message>
    <message>
        <source>Loaded: {names}</source>
        <translation>Carregados: {names}</translation>
    </message>
    <message>
        <source>No model loaded</source>
        <translation>Nenhum modelo carregado</translation>
    </message>
</context>
</TS>
